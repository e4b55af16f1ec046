import { cropResize, type Picture, type PixelRect } from './resample.ts';

/**
 * Where a package's picture sits on a canvas: normalised cross-correlation of the package's
 * view reference (a grey template, its mean in-world frame) against a grey canvas, over
 * positions and scales. Pure functions, no I/O.
 *
 * NCC is smooth around the true place and indifferent to brightness and contrast (colour
 * ranges, encoders), so a coarse pass on a small canvas finds the neighbourhood and a pass at
 * full size pins it to a pixel or two. The package's in-world score, which is sharp to a few
 * pixels, then decides between the last few candidates (src/view/finder.ts).
 */
export interface Grey {
  width: number;
  height: number;
  /** One byte (or float) per pixel, row-major. */
  data: Uint8Array | Float32Array;
}

export interface Match extends PixelRect {
  /** NCC in [-1, 1]. */
  score: number;
}

/** RGB24 -> grey (BT.601 luma weights). */
export function toGrey(pic: Picture): Grey {
  const n = pic.width * pic.height;
  const out = new Float32Array(n);
  const d = pic.data;
  for (let i = 0, p = 0; i < n; i++, p += 3) out[i] = 0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]!;
  return { width: pic.width, height: pic.height, data: out };
}

/** A grey picture's `rect` resized to w x h (tent filter, as cropResize). */
export function resizeGrey(g: Grey, rect: PixelRect, w: number, h: number): Grey {
  const data = cropResize<Float32Array>({ ...g, channels: 1 }, rect, w, h, new Float32Array(w * h));
  return { width: w, height: h, data };
}

/** Zero-mean, unit-norm template (so NCC is one dot product over the window's own norm). */
function normalise(t: Grey): { data: Float32Array; flat: boolean } {
  const n = t.width * t.height;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += t.data[i]!;
  mean /= n;
  const data = new Float32Array(n);
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const v = t.data[i]! - mean;
    data[i] = v;
    ss += v * v;
  }
  const norm = Math.sqrt(ss);
  if (norm < 1e-6) return { data, flat: true };
  for (let i = 0; i < n; i++) data[i]! /= norm;
  return { data, flat: false };
}

/** Summed-area tables of a canvas and its squares: any window's mean and norm in O(1). */
class Integral {
  readonly s: Float64Array;
  readonly s2: Float64Array;
  private readonly w1: number;
  constructor(readonly g: Grey) {
    this.w1 = g.width + 1;
    this.s = new Float64Array(this.w1 * (g.height + 1));
    this.s2 = new Float64Array(this.w1 * (g.height + 1));
    for (let y = 0; y < g.height; y++) {
      let row = 0;
      let row2 = 0;
      for (let x = 0; x < g.width; x++) {
        const v = g.data[y * g.width + x]!;
        row += v;
        row2 += v * v;
        this.s[(y + 1) * this.w1 + x + 1] = this.s[y * this.w1 + x + 1]! + row;
        this.s2[(y + 1) * this.w1 + x + 1] = this.s2[y * this.w1 + x + 1]! + row2;
      }
    }
  }
  /** Sum and sum of squares of the w x h window at (x, y). */
  window(x: number, y: number, w: number, h: number): [number, number] {
    const a = y * this.w1 + x, b = y * this.w1 + x + w, c = (y + h) * this.w1 + x, d = (y + h) * this.w1 + x + w;
    return [this.s[d]! - this.s[b]! - this.s[c]! + this.s[a]!, this.s2[d]! - this.s2[b]! - this.s2[c]! + this.s2[a]!];
  }
}

/** NCC of a normalised template (tw x th) at canvas position (x, y). */
function nccAt(canvas: Grey, integral: Integral, t: Float32Array, tw: number, th: number, x: number, y: number): number {
  const n = tw * th;
  const [sum, sum2] = integral.window(x, y, tw, th);
  const variance = sum2 - (sum * sum) / n;
  if (variance < 1e-3 * n) return -1; // a flat window (a plain background) matches nothing
  let dot = 0;
  const cw = canvas.width;
  const d = canvas.data;
  for (let j = 0; j < th; j++) {
    const row = (y + j) * cw + x;
    const trow = j * tw;
    for (let i = 0; i < tw; i++) dot += d[row + i]! * t[trow + i]!;
  }
  // The template is zero-mean, so the window's mean drops out of the dot product.
  return dot / Math.sqrt(variance);
}

export interface ScanOptions {
  /** Template sizes to try, in canvas pixels (rounded). */
  sizes: { w: number; h: number }[];
  /** Position step in canvas pixels. */
  step?: number;
  /** Only positions within this rectangle's top-left range (a neighbourhood); absent: everywhere. */
  near?: { x0: number; x1: number; y0: number; y1: number };
  /** Keep this many best matches (distinct places). */
  keep?: number;
}

/** Every scale and position of `reference` on `canvas`; the best `keep` matches, best first. */
export function scan(canvas: Grey, reference: Grey, opts: ScanOptions): Match[] {
  const integral = new Integral(canvas);
  const step = opts.step ?? 1;
  const found: Match[] = [];
  for (const size of opts.sizes) {
    const h = Math.round(size.h);
    const w = Math.round(size.w);
    if (h < 6 || w < 6 || w > canvas.width || h > canvas.height) continue;
    const t = normalise(resizeGrey(reference, { x: 0, y: 0, w: reference.width, h: reference.height }, w, h));
    if (t.flat) continue;
    const x0 = Math.max(0, opts.near?.x0 ?? 0), x1 = Math.min(canvas.width - w, opts.near?.x1 ?? canvas.width - w);
    const y0 = Math.max(0, opts.near?.y0 ?? 0), y1 = Math.min(canvas.height - h, opts.near?.y1 ?? canvas.height - h);
    for (let y = y0; y <= y1; y += step) {
      for (let x = x0; x <= x1; x += step) {
        const score = nccAt(canvas, integral, t.data, w, h, x, y);
        found.push({ x, y, w, h, score });
      }
    }
  }
  return best(found, opts.keep ?? 3);
}

/** The `keep` best matches that do not overlap a better one by more than half. */
function best(found: Match[], keep: number): Match[] {
  found.sort((a, b) => b.score - a.score);
  const out: Match[] = [];
  for (const m of found) {
    if (out.length >= keep) break;
    if (out.some((o) => overlap(o, m) > 0.5)) continue;
    out.push(m);
  }
  return out;
}

/** Intersection over the smaller area. */
export function overlap(a: PixelRect, b: PixelRect): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  return (ix * iy) / Math.min(a.w * a.h, b.w * b.h);
}

/** Template sizes of `aspect` from `minFrac` of the canvas height up to the largest that fits, `ratio` apart. */
export function sizesFor(canvasHeight: number, canvasWidth: number, aspect: number, minFrac: number, ratio: number): { w: number; h: number }[] {
  const max = Math.min(canvasHeight, canvasWidth / aspect);
  const out: { w: number; h: number }[] = [];
  for (let h = max; h >= canvasHeight * minFrac; h /= ratio) out.push({ w: h * aspect, h });
  return out;
}
