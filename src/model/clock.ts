/**
 * The stream clock of a model package (manifest `clock`, models/CONTRACT.md): a learned table
 * [digits, 10, dModel]; a frame at stream time t gets, on each of its vision tokens, the sum over
 * decimal places p of row [p, digit p of floor(t in seconds)]. It is how the model can say *when*
 * something happened ("at 1 ##2 seconds"). The toolkit's `KibitzModel.clock` is the reference.
 */
export class StreamClock {
  constructor(
    private readonly table: Float32Array,
    readonly digits: number,
    private readonly dModel: number,
  ) {
    if (table.length !== digits * 10 * dModel) throw new Error(`clock table has ${table.length} values, expected digits*10*dModel = ${digits * 10 * dModel}`);
  }

  /** The last vector computed: every frame and token of one second asks for the same one. */
  private memo: { seconds: number; vector: Float32Array } | null = null;

  /** The clock vector ([dModel]) for a whole number of seconds; wraps at 10^digits. Read it, do not modify it. */
  vector(seconds: number): Float32Array {
    const whole = Math.max(0, Math.floor(seconds));
    if (this.memo?.seconds === whole) return this.memo.vector;
    const d = this.dModel;
    const out = new Float32Array(d);
    let s = whole;
    for (let p = 0; p < this.digits; p++) {
      const row = (p * 10 + (s % 10)) * d;
      for (let i = 0; i < d; i++) out[i]! += this.table[row + i]!;
      s = Math.floor(s / 10);
    }
    this.memo = { seconds: whole, vector: out };
    return out;
  }

  /** Adds the clock of `streamTimeMs` to every token of one frame's embeddings ([V, dModel]), in place. */
  stamp(frameEmbeds: Float32Array, streamTimeMs: number): void {
    const c = this.vector(streamTimeMs / 1000);
    const d = this.dModel;
    for (let off = 0; off < frameEmbeds.length; off += d) {
      for (let i = 0; i < d; i++) frameEmbeds[off + i]! += c[i]!;
    }
  }
}
