/**
 * Temporal token drop (manifest `temporal`, models/CONTRACT.md): grid tokens whose pixels did not
 * change since they were last fed stay out of the decoder. The runtime's one definition of the
 * rule; the toolkit's is `models/kibitz_models/data/temporal.py` (the model was trained with it), and
 * both are checked against the same crafted frames (models/tests/temporal_drop_cases.json).
 *
 * Per stream it keeps each grid cell's pixels (the cell grown by cellMargin px on each side,
 * clamped to the frame) as they were when that cell's token was last fed. Token 0 (the summary) is
 * always fed; grid token c is fed when there is no state yet (first frame, or after `reset()`),
 * when the mean abs difference (0..255, over pixels and channels) to the last fed region exceeds
 * threshold, or when it was last fed refreshFrames or more frames ago.
 */


/** The manifest's `temporal` block. */
export interface TemporalRule {
  /** Pixels each cell is grown by on every side (a token sees a little of its neighbours). */
  cellMargin: number;
  /** Mean abs difference (0..255) above which a cell counts as changed. */
  threshold: number;
  /** A cell is fed at least this often, so every cell has a token in the cache's window. */
  refreshFrames: number;
}

/** `model.temporal` in the config: `auto` = what the package says (its `temporal.default`, `on` when absent). */
export type TemporalMode = 'auto' | 'on' | 'off';

/**
 * The temporal drop asked for ("on") on a package never trained with it. The model layer knows
 * no config keys: whoever built the engine from a config names the key (src/model_host/engine_for.ts).
 */
export class TemporalModeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalModeError';
  }
}

/**
 * The one place that decides whether a package's streams run the temporal drop. A package without
 * a `temporal` block was never trained with it, so `on` there is a clear error, not a silent no-op.
 */
export function temporalRuleFor(manifest: { name: string; temporal?: (TemporalRule & { default?: 'on' | 'off' }) | undefined }, mode: TemporalMode): TemporalRule | null {
  const t = manifest.temporal;
  if (!t) {
    if (mode === 'on') throw new TemporalModeError(`"on", but package ${manifest.name} has no temporal block: it was not trained with the temporal token drop. Set model.temporal to auto or off, or export a package trained with it (cli train --temporal).`);
    return null;
  }
  if (mode === 'off' || (mode === 'auto' && t.default === 'off')) return null;
  return t;
}

interface Region {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/** One stream's rule state: `step(frame)` says which tokens of that frame to feed, and remembers it. */
export class TokenDrop {
  private readonly regions: Region[];
  /** Per cell: its region's RGB bytes when last fed (null before the first frame). */
  private last: Uint8Array<ArrayBuffer>[] | null = null;
  /** Frames since each cell was last fed. */
  private readonly age: Int32Array;

  constructor(
    readonly rule: TemporalRule,
    private readonly width: number,
    private readonly height: number,
    grid: readonly [number, number],
  ) {
    const [gh, gw] = grid;
    if (height % gh !== 0 || width % gw !== 0) throw new Error(`frame ${width}x${height} does not split into a ${gh}x${gw} grid (manifest vision.grid)`);
    const ch = height / gh;
    const cw = width / gw;
    const m = rule.cellMargin;
    this.regions = [];
    for (let r = 0; r < gh; r++) {
      for (let c = 0; c < gw; c++) {
        this.regions.push({ y0: Math.max(0, r * ch - m), y1: Math.min(height, (r + 1) * ch + m), x0: Math.max(0, c * cw - m), x1: Math.min(width, (c + 1) * cw + m) });
      }
    }
    this.age = new Int32Array(this.regions.length);
  }

  /** Tokens per frame (summary + grid). */
  get tokens(): number {
    return 1 + this.regions.length;
  }

  /** Forgets every cell: the next frame is fed whole (a stream's cache started over). */
  reset(): void {
    this.last = null;
    this.age.fill(0);
  }

  /** The tokens of this frame (packed RGB24, width x height) to feed, ascending; token 0 always. */
  step(frame: Uint8Array): number[] {
    if (frame.length !== this.width * this.height * 3) throw new Error(`frame has ${frame.length} bytes, expected ${this.width}x${this.height}x3`);
    const fed = [0];
    if (this.last === null) {
      this.last = this.regions.map((r) => this.crop(frame, r));
      this.age.fill(0);
      for (let c = 0; c < this.regions.length; c++) fed.push(c + 1);
      return fed;
    }
    for (let c = 0; c < this.regions.length; c++) {
      this.age[c]!++;
      const r = this.regions[c]!;
      // integer sum against threshold * count: the toolkit compares exactly the same numbers
      const count = (r.y1 - r.y0) * (r.x1 - r.x0) * 3;
      const limit = this.rule.threshold * count;
      const changed = this.absDiffSum(frame, r, this.last[c]!, limit) > limit;
      if (changed || this.age[c]! >= this.rule.refreshFrames) {
        this.crop(frame, r, this.last[c]);
        this.age[c] = 0;
        fed.push(c + 1);
      }
    }
    return fed;
  }

  /** The region's bytes, into `out` when given (a cell's buffer is reused, never reallocated). */
  private crop(frame: Uint8Array, r: Region, out = new Uint8Array((r.y1 - r.y0) * (r.x1 - r.x0) * 3)): Uint8Array<ArrayBuffer> {
    const row = (r.x1 - r.x0) * 3;
    for (let y = r.y0; y < r.y1; y++) {
      const src = (y * this.width + r.x0) * 3;
      out.set(frame.subarray(src, src + row), (y - r.y0) * row);
    }
    return out;
  }

  /** Sum of |frame - last| over the region; stops early once it is above `limit` (changed either way). */
  private absDiffSum(frame: Uint8Array, r: Region, last: Uint8Array, limit: number): number {
    const row = (r.x1 - r.x0) * 3;
    const width3 = this.width * 3;
    let sum = 0;
    for (let y = r.y0, dst = 0; y < r.y1 && sum <= limit; y++, dst += row) {
      const src = y * width3 + r.x0 * 3;
      for (let i = 0; i < row; i++) sum += Math.abs(frame[src + i]! - last[dst + i]!);
    }
    return sum;
  }
}

/** The fed tokens' rows of one frame's embeddings ([V, d] -> [n, d]); the same array when all are fed. */
export function gatherTokens(embeds: Float32Array, fed: readonly number[], V: number, d: number): Float32Array {
  if (fed.length === V) return embeds;
  const out = new Float32Array(fed.length * d);
  fed.forEach((t, i) => out.set(embeds.subarray(t * d, (t + 1) * d), i * d));
  return out;
}
