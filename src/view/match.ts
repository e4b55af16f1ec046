import { resizeGrey, type Grey, type PixelRect } from './resample.ts';

/**
 * Where a package's picture sits on a canvas: normalised cross-correlation of the package's
 * view reference (a grey template, its mean in-world picture) against a grey canvas, over
 * positions and sizes. Pure, no I/O.
 *
 * NCC is smooth around the true place and indifferent to brightness and contrast (colour
 * ranges, encoders), so a coarse pass on a small canvas finds the neighbourhood and a pass at
 * full size pins it to the pixel (src/view/search.ts).
 */
export interface Match extends PixelRect {
  /** NCC in [-1, 1]. */
  score: number;
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

/** The reference at one size, normalised: cached per reference, since the view in use is checked at one size every second. */
const templates = new WeakMap<Grey, Map<string, { data: Float32Array; flat: boolean }>>();
const TEMPLATES_KEPT = 64;

function template(reference: Grey, w: number, h: number): { data: Float32Array; flat: boolean } {
  let sizes = templates.get(reference);
  if (!sizes) templates.set(reference, (sizes = new Map()));
  const key = `${w}x${h}`;
  let t = sizes.get(key);
  if (!t) {
    if (sizes.size >= TEMPLATES_KEPT) sizes.delete(sizes.keys().next().value!);
    t = normalise(w === reference.width && h === reference.height ? reference : resizeGrey(reference, { x: 0, y: 0, w: reference.width, h: reference.height }, w, h));
    sizes.set(key, t);
  }
  return t;
}

/** The reference's every `stride`-th pixel, normalised (cached with the sizes above): what warpNcc correlates. */
function sparseTemplate(reference: Grey, stride: number): { data: Float32Array; flat: boolean } {
  let sizes = templates.get(reference);
  if (!sizes) templates.set(reference, (sizes = new Map()));
  const key = `every ${stride}`;
  let t = sizes.get(key);
  if (!t) {
    const w = Math.ceil(reference.width / stride), h = Math.ceil(reference.height / stride);
    const data = new Float32Array(w * h);
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) data[j * w + i] = reference.data[j * stride * reference.width + i * stride]!;
    t = normalise({ width: w, height: h, data });
    sizes.set(key, t);
  }
  return t;
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

/** NCC of a normalised template (tw x th) at canvas position (x, y), given that window's sum and sum of squares. */
function ncc(canvas: Grey, t: Float32Array, tw: number, th: number, x: number, y: number, sum: number, sum2: number): number {
  const n = tw * th;
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

/** NCC of `reference` resized to `rect` at that one place: no tables (checking the view in use). */
export function nccAt(canvas: Grey, reference: Grey, rect: PixelRect): number {
  const { x, y, w, h } = rect;
  if (w < 6 || h < 6 || x < 0 || y < 0 || x + w > canvas.width || y + h > canvas.height) return -1;
  const t = template(reference, w, h);
  if (t.flat) return -1;
  let sum = 0, sum2 = 0;
  for (let j = 0; j < h; j++) {
    const row = (y + j) * canvas.width + x;
    for (let i = 0; i < w; i++) {
      const v = canvas.data[row + i]!;
      sum += v;
      sum2 += v * v;
    }
  }
  return ncc(canvas, t.data, w, h, x, y, sum, sum2);
}

/**
 * NCC of `reference` laid on the canvas with its top-left corner at (x, y) and `s` canvas pixels
 * per reference pixel, at sub-pixel places and scales: the canvas sampled bilinearly under every
 * `stride`-th reference pixel (search.ts refineScaled). -1 where it leaves the canvas.
 */
export function warpNcc(canvas: Grey, reference: Grey, x: number, y: number, s: number, stride = 2): number {
  const t = sparseTemplate(reference, stride);
  if (t.flat) return -1;
  const cw = canvas.width, d = canvas.data;
  let k = 0, sum = 0, sum2 = 0, dot = 0;
  for (let j = 0; j < reference.height; j += stride) {
    const fy = y + (j + 0.5) * s - 0.5;
    const y0 = Math.floor(fy), wy = fy - y0;
    if (y0 < 0 || y0 + 1 >= canvas.height) return -1;
    for (let i = 0; i < reference.width; i += stride) {
      const fx = x + (i + 0.5) * s - 0.5;
      const x0 = Math.floor(fx), wx = fx - x0;
      if (x0 < 0 || x0 + 1 >= cw) return -1;
      const at = y0 * cw + x0;
      const v = (d[at]! * (1 - wx) + d[at + 1]! * wx) * (1 - wy) + (d[at + cw]! * (1 - wx) + d[at + cw + 1]! * wx) * wy;
      sum += v;
      sum2 += v * v;
      dot += v * t.data[k++]!;
    }
  }
  // As in ncc: the template is zero-mean, so the samples' mean drops out of the dot product.
  const variance = sum2 - (sum * sum) / k;
  if (variance < 1e-3 * k) return -1;
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

/** Scans of one canvas: its summed-area tables are made once, at the first scan, for all of them. */
export class Scanner {
  private integral: Integral | null = null;

  constructor(readonly canvas: Grey) {}

  /** Every size and position of `reference` asked for; the best `keep` matches, best first. */
  scan(reference: Grey, opts: ScanOptions): Match[] {
    const canvas = this.canvas;
    const integral = (this.integral ??= new Integral(canvas));
    const step = opts.step ?? 1;
    const found: Match[] = [];
    for (const size of opts.sizes) {
      const h = Math.round(size.h);
      const w = Math.round(size.w);
      if (h < 6 || w < 6 || w > canvas.width || h > canvas.height) continue;
      const t = template(reference, w, h);
      if (t.flat) continue;
      const x0 = Math.max(0, opts.near?.x0 ?? 0), x1 = Math.min(canvas.width - w, opts.near?.x1 ?? canvas.width - w);
      const y0 = Math.max(0, opts.near?.y0 ?? 0), y1 = Math.min(canvas.height - h, opts.near?.y1 ?? canvas.height - h);
      for (let y = y0; y <= y1; y += step) {
        for (let x = x0; x <= x1; x += step) {
          const [sum, sum2] = integral.window(x, y, w, h);
          found.push({ x, y, w, h, score: ncc(canvas, t.data, w, h, x, y, sum, sum2) });
        }
      }
    }
    return best(found, opts.keep ?? 3);
  }
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
function overlap(a: PixelRect, b: PixelRect): number {
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
