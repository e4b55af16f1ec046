import * as ort from 'onnxruntime-node';
import { frameStepTokens, type Manifest } from './manifest.ts';

/** How much context one stream keeps (models/CONTRACT.md "Positions"). */
export interface CacheLimits {
  /** The stream's first tokens, never evicted (attention sinks). */
  sinkTokens: number;
  /** Vision entries of this many most recent frames are kept. */
  windowFrames: number;
  /** Text tokens (commentary, questions, answers) kept beyond the vision window. */
  textBudget: number;
  /** The longest single text step (prompt) the runtime will feed. */
  maxStepTokens: number;
  /**
   * Keep text older than the oldest kept frame (within textBudget). Off by default: the demo
   * model was trained on `bos` + the window's frames with the text between them, so text leaves
   * the cache with the frames around it.
   */
  keepOldText?: boolean;
}

/** One layer's K/V in fixed slots: [kvHeads, capacity, headDim], so ORT reads it in place. */
class LayerKv {
  readonly key: Float32Array;
  readonly value: Float32Array;
  /** Position (rank in the kept sequence) of the token in each slot. */
  readonly pos: BigInt64Array;
  /** 1 = slot holds an entry. ORT's bool tensors are one byte per element. */
  readonly valid: Uint8Array;
  /** Token serial in each slot, -1 when free. */
  readonly serial: Int32Array;
  private readonly free: number[] = [];

  constructor(readonly capacity: number, readonly heads: number, readonly dim: number) {
    this.key = new Float32Array(heads * capacity * dim);
    this.value = new Float32Array(heads * capacity * dim);
    this.pos = new BigInt64Array(capacity);
    this.valid = new Uint8Array(capacity);
    this.serial = new Int32Array(capacity).fill(-1);
    for (let s = capacity - 1; s >= 0; s--) this.free.push(s);
  }

  get freeSlots(): number {
    return this.free.length;
  }

  /** Copies entries [heads, T, dim] from a graph output into free slots. */
  append(newKey: Float32Array, newValue: Float32Array, T: number, serialOf: (t: number) => number, posOf: (serial: number) => number): void {
    const { heads, dim, capacity } = this;
    if (this.free.length < T) throw new Error(`KV layer overflow: ${T} new entries, ${this.free.length} free of ${capacity} (cache limits are inconsistent)`);
    for (let t = 0; t < T; t++) {
      const slot = this.free.pop()!;
      const serial = serialOf(t);
      this.serial[slot] = serial;
      this.pos[slot] = BigInt(posOf(serial));
      this.valid[slot] = 1;
      for (let h = 0; h < heads; h++) {
        const src = (h * T + t) * dim;
        const dst = (h * capacity + slot) * dim;
        this.key.set(newKey.subarray(src, src + dim), dst);
        this.value.set(newValue.subarray(src, src + dim), dst);
      }
    }
  }

  /**
   * Frees the entries of serials [lo, hi). Keys are stored rotated at their positions, which are
   * rank + offset; the offset grows by `removed`, so later tokens keep their positions and earlier
   * ones (sinks, older text) move up, their keys turned by `turn`.
   */
  evictRange(lo: number, hi: number, removed: number, turn: Turn): void {
    for (let slot = 0; slot < this.capacity; slot++) {
      const s = this.serial[slot]!;
      if (s < 0) continue;
      if (s >= lo && s < hi) {
        this.serial[slot] = -1;
        this.valid[slot] = 0;
        this.free.push(slot);
      } else if (s < lo) {
        this.pos[slot] = this.pos[slot]! + BigInt(removed);
        this.turnKey(slot, turn);
      }
    }
  }

  /** Moves every entry `by` positions (negative: down), keys turned with it (`turn` is for `by`). */
  shiftAll(by: number, turn: Turn): void {
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.serial[slot]! < 0) continue;
      this.pos[slot] = this.pos[slot]! + BigInt(by);
      this.turnKey(slot, turn);
    }
  }

  /** Rotates the key in `slot` (every head) as rotate-half RoPE does, by the angles of `turn`. */
  private turnKey(slot: number, turn: Turn): void {
    const { heads, dim, capacity, key } = this;
    const half = dim / 2;
    for (let h = 0; h < heads; h++) {
      const o = (h * capacity + slot) * dim;
      for (let i = 0; i < half; i++) {
        const x1 = key[o + i]!;
        const x2 = key[o + i + half]!;
        key[o + i] = x1 * turn.cos[i]! - x2 * turn.sin[i]!;
        key[o + i + half] = x2 * turn.cos[i]! + x1 * turn.sin[i]!;
      }
    }
  }

  /** Copies this layer into row `b` of batch buffers laid out [B, heads, capacity, dim] / [B, capacity]. */
  copyInto(b: number, key: Float32Array, value: Float32Array, pos: BigInt64Array, valid: Uint8Array): void {
    key.set(this.key, b * this.key.length);
    value.set(this.value, b * this.value.length);
    pos.set(this.pos, b * this.capacity);
    valid.set(this.valid, b * this.capacity);
  }

  feeds(l: number, into: Record<string, ort.Tensor>): void {
    const dims = [1, this.heads, this.capacity, this.dim];
    into[`past_key.${l}`] = new ort.Tensor('float32', this.key, dims);
    into[`past_value.${l}`] = new ort.Tensor('float32', this.value, dims);
    into[`past_pos.${l}`] = new ort.Tensor('int64', this.pos, [1, this.capacity]);
    into[`past_valid.${l}`] = new ort.Tensor('bool', this.valid, [1, this.capacity]);
  }
}

/** cos/sin of one rotation by a whole number of positions, per frequency of a head. */
interface Turn {
  cos: Float64Array;
  sin: Float64Array;
}

/**
 * RoPE's inverse frequencies exactly as the exported graph holds them (float32:
 * 1 / theta^(2i / headDim)), so a key turned here lands where the graph would have put it.
 */
export function ropeFrequencies(headDim: number, theta: number): Float64Array {
  const inv = new Float64Array(headDim / 2);
  for (let i = 0; i < inv.length; i++) inv[i] = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
  return inv;
}

function turnBy(positions: number, inv: Float64Array): Turn {
  return { cos: inv.map((f) => Math.cos(positions * f)), sin: inv.map((f) => Math.sin(positions * f)) };
}

/**
 * Positions are rank + offset. Past this offset every entry is moved back down
 * (once every few dozen frames), so positions fed to the graph stay small and float32 RoPE exact.
 */
const REBASE_OFFSET = 1024;

interface Group {
  kind: 'frame' | 'text';
  lo: number;
  hi: number;
}

/**
 * One stream's KV cache: attention sinks + the last `windowFrames` frames + a text budget, in
 * fixed-size buffers. Memory and per-step cost do not grow with stream length. Owned by the
 * stream's context; nobody else touches the tensors.
 */
export class KvCache {
  private readonly layers: LayerKv[];
  /** Serials of kept tokens in sequence order; a token's position is its index here. */
  private kept: number[] = [];
  private nextSerial = 0;
  private readonly groups: Group[] = [];
  private frames = 0;
  private textTokens = 0;
  /** RoPE frequencies: the graphs take past keys rotated at their positions (decoder.pastKeys "rotated"). */
  private readonly rope: Float64Array;
  /** How far every position is above its rank (tokens evicted since the last rebase). */
  private offset = 0;

  constructor(private readonly manifest: Manifest, readonly limits: CacheLimits) {
    const d = manifest.decoder;
    this.rope = ropeFrequencies(d.headDim, d.ropeTheta!);
    // A frame step holds its vision tokens and the separator before them (never routed).
    const prefix = d.framePrefixTokens ?? 0;
    const V = frameStepTokens(manifest);
    const routed = new Set(d.routedLayers);
    this.layers = [];
    for (let l = 0; l < d.layers; l++) {
      const perFrame = routed.has(l) ? d.keptPerFrame + prefix : V;
      const cap = limits.sinkTokens + limits.windowFrames * perFrame + limits.textBudget + limits.maxStepTokens + V;
      this.layers.push(new LayerKv(cap, d.kvHeads, d.headDim));
    }
  }

  /** Tokens currently kept (the next token's position). */
  get seqLength(): number {
    return this.kept.length;
  }

  /** Serials (feeding order, from 0) of the tokens kept, oldest first: what a reference replay evicts. */
  get keptSerials(): readonly number[] {
    return [...this.kept];
  }

  get framesKept(): number {
    return this.frames;
  }

  /** Slots each layer attends over on every step, filled or not (the graphs take fixed-size buffers). */
  get capacities(): number[] {
    return this.layers.map((l) => l.capacity);
  }

  get bytes(): number {
    return this.layers.reduce((a, l) => a + l.key.byteLength * 2 + l.pos.byteLength + l.valid.byteLength + l.serial.byteLength, 0);
  }

  /** Makes room for a step of T tokens and returns their positions. */
  prepare(kind: 'frame' | 'text', T: number): BigInt64Array {
    if (kind === 'text' && T > this.limits.maxStepTokens) throw new Error(`text step of ${T} tokens exceeds maxStepTokens ${this.limits.maxStepTokens}`);
    if (kind === 'frame') {
      while (this.frames >= this.limits.windowFrames) {
        this.evictOldest('frame');
        if (!this.limits.keepOldText) this.evictTextBeforeFirstFrame();
      }
    }
    if (kind === 'text') while (this.textTokens + T > this.limits.textBudget + this.limits.maxStepTokens && this.evictOldest('text'));
    const base = this.kept.length + this.offset;
    const pos = new BigInt64Array(T);
    for (let t = 0; t < T; t++) pos[t] = BigInt(base + t);
    return pos;
  }

  feeds(into: Record<string, ort.Tensor>): void {
    this.layers.forEach((layer, l) => layer.feeds(l, into));
  }

  /**
   * A step's cache inputs in one call: room made for T tokens of `kind` (evictions), the past
   * feeds written into `into`, and the new tokens' positions returned. After the run, `append`.
   */
  prepareStep(kind: 'frame' | 'text', T: number, into: Record<string, ort.Tensor>): BigInt64Array {
    const positions = this.prepare(kind, T);
    this.feeds(into);
    return positions;
  }

  /** prepareStep for several caches as one batch: positions [B * T], row b = caches[b], and the batched past feeds. */
  static prepareBatch(caches: KvCache[], kind: 'frame' | 'text', T: number, into: Record<string, ort.Tensor>, scratch?: BatchScratch): BigInt64Array {
    const positions = new BigInt64Array(caches.length * T);
    caches.forEach((c, b) => positions.set(c.prepare(kind, T), b * T));
    KvCache.batchFeeds(caches, into, scratch);
    return positions;
  }

  /**
   * The past feeds of several caches as one batch (row b = caches[b]). One engine's caches share
   * their limits, so their buffers have the same shape and need no padding; each is copied, since
   * ORT wants one contiguous tensor per input.
   */
  static batchFeeds(caches: KvCache[], into: Record<string, ort.Tensor>, scratch = new BatchScratch()): void {
    const B = caches.length;
    caches[0]!.layers.forEach((first, l) => {
      const { capacity: cap, heads, dim } = first;
      // Every row is overwritten below (copyInto fills a row whole), so reused buffers need no clearing.
      const { key, value, pos, valid } = scratch.layer(l, B * heads * cap * dim, B * cap);
      caches.forEach((c, b) => {
        const layer = c.layers[l]!;
        if (layer.capacity !== cap) throw new Error(`cannot batch caches of different sizes (layer ${l}: ${layer.capacity} vs ${cap})`);
        layer.copyInto(b, key, value, pos, valid);
      });
      into[`past_key.${l}`] = new ort.Tensor('float32', key, [B, heads, cap, dim]);
      into[`past_value.${l}`] = new ort.Tensor('float32', value, [B, heads, cap, dim]);
      into[`past_pos.${l}`] = new ort.Tensor('int64', pos, [B, cap]);
      into[`past_valid.${l}`] = new ort.Tensor('bool', valid, [B, cap]);
    });
  }

  /**
   * Appends a step's outputs. `index[l]` (routed layers of a frame step) says which of the T
   * tokens each new entry belongs to; otherwise entry t is token t.
   */
  append(kind: 'frame' | 'text', T: number, outputs: ort.InferenceSession.ReturnType, index?: Map<number, BigInt64Array>): void {
    const base = this.nextSerial;
    const firstPos = this.kept.length + this.offset;
    for (let t = 0; t < T; t++) this.kept.push(base + t);
    this.nextSerial += T;
    const posOf = (serial: number) => firstPos + (serial - base);
    this.layers.forEach((layer, l) => {
      const k = outputs[`new_key.${l}`]!;
      const v = outputs[`new_value.${l}`]!;
      const n = k.dims[2]!;
      const idx = index?.get(l);
      layer.append(k.data as Float32Array, v.data as Float32Array, n, idx ? (t) => base + Number(idx[t]) : (t) => base + t, posOf);
    });
    const lo = Math.max(base, this.limits.sinkTokens);
    const hi = base + T;
    if (hi > lo) {
      const last = this.groups[this.groups.length - 1];
      if (kind === 'text' && last?.kind === 'text' && last.hi === lo) last.hi = hi; // one line = one group
      else this.groups.push({ kind, lo, hi });
      if (kind === 'frame') this.frames++; // a frame wholly inside the sinks is never evicted, so not counted
      else this.textTokens += hi - lo;
    }
  }

  private evictTextBeforeFirstFrame(): void {
    const firstFrame = this.groups.find((g) => g.kind === 'frame');
    if (!firstFrame) return;
    while (true) {
      const t = this.groups.find((g) => g.kind === 'text');
      if (!t || t.hi > firstFrame.lo) return;
      this.evictOldest('text');
    }
  }

  /** Evicts the oldest group of a kind; false when there is none. */
  private evictOldest(kind: Group['kind']): boolean {
    const i = this.groups.findIndex((g) => g.kind === kind);
    if (i < 0) return false;
    const g = this.groups.splice(i, 1)[0]!;
    const start = lowerBound(this.kept, g.lo);
    const end = lowerBound(this.kept, g.hi);
    const removed = end - start;
    this.kept.splice(start, removed);
    if (removed > 0) {   // no kept token in the group: no layer holds an entry of it
      const turn = turnBy(removed, this.rope);
      for (const layer of this.layers) layer.evictRange(g.lo, g.hi, removed, turn);
      this.offset += removed;
      if (this.offset >= REBASE_OFFSET) this.rebase();
    }
    if (kind === 'frame') this.frames--;
    else this.textTokens -= g.hi - g.lo;
    return true;
  }

  /** Moves every entry down by the offset (positions = ranks again). */
  private rebase(): void {
    const turn = turnBy(-this.offset, this.rope);
    for (const layer of this.layers) layer.shiftAll(-this.offset, turn);
    this.offset = 0;
  }

  /** K/V bytes written per frame, from the manifest (MoD: routed layers keep only a few). */
  static kvBytesPerFrame(m: Manifest): number {
    const routed = new Set(m.decoder.routedLayers);
    let entries = 0;
    for (let l = 0; l < m.decoder.layers; l++) entries += routed.has(l) ? m.decoder.keptPerFrame : m.vision.tokensPerFrame;
    return entries * m.decoder.kvHeads * m.decoder.headDim * 4 * 2;
  }
}

/** One layer's batched past inputs: K/V [B, heads, capacity, dim], positions and validity [B, capacity]. */
interface BatchLayer {
  key: Float32Array;
  value: Float32Array;
  pos: BigInt64Array;
  valid: Uint8Array;
}

/**
 * Buffers for batched decoder inputs, reused from one batched call to the next. A fresh set
 * (about 2.6 MB per stream) on every frame step and every generated token was garbage for the
 * collector: batched step p95 ran at 2-3x p50. One owner (a model's batched calls, see
 * stream_context.ts) lends it to one call at a time; a call that finds it lent uses its own.
 */
export class BatchScratch {
  private readonly layers: BatchLayer[] = [];
  private lent = false;

  /** True when the caller may use it until `giveBack()`; false when another call has it. */
  borrow(): boolean {
    if (this.lent) return false;
    this.lent = true;
    return true;
  }

  giveBack(): void {
    this.lent = false;
  }

  /** Layer l's buffers, exactly `kv` K/V floats and `slots` entries: kept ones (grown, never shrunk), or views on them. */
  layer(l: number, kv: number, slots: number): BatchLayer {
    let b = this.layers[l];
    if (!b || b.key.length < kv || b.pos.length < slots) {
      b = { key: new Float32Array(kv), value: new Float32Array(kv), pos: new BigInt64Array(slots), valid: new Uint8Array(slots) };
      this.layers[l] = b;
    }
    if (b.key.length === kv && b.pos.length === slots) return b;
    return { key: b.key.subarray(0, kv), value: b.value.subarray(0, kv), pos: b.pos.subarray(0, slots), valid: b.valid.subarray(0, slots) };
  }
}

function lowerBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
