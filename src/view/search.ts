import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FrameView } from '../decode/filter.ts';
import { nccAt, Scanner, sizesFor, warpNcc, type Match } from './match.ts';
import { resizeGrey, type Grey } from './resample.ts';

/**
 * One search for a package's picture on a grey canvas, coarse to fine: every place and scale on
 * a small copy, then the best few refined on larger copies, the last at the canvas's own size
 * (the source's pixels). Runs in slices (one scale at a time, yielding to the event loop between
 * them), so a search never holds up ingest or other streams for more than a few milliseconds.
 *
 * A picture shown at the size it was recorded at (a game window moved, not scaled: the common
 * layout) is cut exactly as in training: the same pixel size and the same even pixel grid
 * ffmpeg's crop uses for 4:2:0 video. The package's decoder is trained on exact crops and a
 * crop 2 px off already costs it most of its commentary (measured: F1 0.78 -> 0.31), so "about
 * there" is not enough when exact is possible.
 */
export interface ViewReference {
  /** The package's mean in-world picture in grey, at its own pixel aspect. */
  grey: Grey;
  /** Width / height of the picture on the source canvas. */
  aspect: number;
  /** [w, h] in source pixels of the crop the package was trained on (ffmpeg's rounding), when it was trained on a view. */
  native?: readonly [number, number];
}

export interface SearchOptions {
  /** Smallest picture to look for, as a share of the canvas height. */
  minHeight: number;
  /** Width of the coarse pass's canvas copy. */
  coarseWidth: number;
  /** Widest copy the refining passes use before the last, full-size one. */
  refineWidth: number;
  /** Places the coarse pass hands on. */
  candidates: number;
  /** A found size within this share of the native size is the native size (the picture is not scaled). */
  nativeTolerance: number;
}

export const DEFAULT_SEARCH: SearchOptions = { minHeight: 0.25, coarseWidth: 160, refineWidth: 640, candidates: 3, nativeTolerance: 0.02 };

export interface Found {
  /** Where the picture is, in fractions of the canvas (sub-pixel when it is scaled). */
  view: FrameView;
  /** Normalised cross-correlation with the reference at full canvas size, in [-1, 1]. */
  score: number;
  /** Whether the picture is at its recorded size (cut exactly as in training). */
  native: boolean;
  /** Time the search held the event loop, in all (its slices, not the waits between them). */
  busyMs: number;
}

/** The best place for `ref` on `canvas`, or null when nothing on it is even a weak match. */
export async function searchView(canvas: Grey, ref: ViewReference, signal?: AbortSignal, opts: SearchOptions = DEFAULT_SEARCH): Promise<Found | null> {
  let busyMs = 0;
  let sliceStart = performance.now();
  const yieldToLoop = async () => {
    busyMs += performance.now() - sliceStart;
    await nextTurn(undefined, { signal });
    sliceStart = performance.now();
  };
  const levels = pyramid(canvas, opts.coarseWidth, opts.refineWidth).map((g) => new Scanner(g));
  const coarse = levels[0]!;
  let matches: Match[] = [];
  for (const size of sizesFor(coarse.canvas.height, coarse.canvas.width, ref.aspect, opts.minHeight, 1.08)) {
    matches.push(...coarse.scan(ref.grey, { sizes: [size], keep: opts.candidates }));
    await yieldToLoop();
  }
  matches = distinct(matches, opts.candidates);
  // Each finer level: around each candidate, +-1 of its pixels and a few percent of scale.
  for (let l = 1; l < levels.length; l++) {
    const k = levels[l]!.canvas.width / levels[l - 1]!.canvas.width;
    const refined: Match[] = [];
    for (const m of matches) {
      for (const s of [0.97, 0.985, 1, 1.015, 1.03]) {
        refined.push(...levels[l]!.scan(ref.grey, { sizes: [{ w: m.h * k * s * ref.aspect, h: m.h * k * s }], near: around(m, k, 1), keep: 1 }));
        await yieldToLoop();
      }
    }
    matches = distinct(refined, opts.candidates);
  }
  // The last pass, on the source's own pixels: the best candidate only.
  const m = matches[0];
  if (!m) return null;
  const k = canvas.width / levels.at(-1)!.canvas.width;
  const full = levels.at(-1)!.canvas === canvas ? levels.at(-1)! : new Scanner(canvas);
  const w = m.w * k, h = m.h * k;
  const native = ref.native && Math.abs(w / ref.native[0] - 1) < opts.nativeTolerance && Math.abs(h / ref.native[1] - 1) < opts.nativeTolerance;
  let best: Match | undefined;
  let scaled: Match | undefined;
  if (native) {
    // The recorded size, at even places only (where ffmpeg's 4:2:0 crop can start).
    const near = around(m, k, 1.5);
    near.x0 -= near.x0 % 2;
    near.y0 -= near.y0 % 2;
    best = full.scan(ref.grey, { sizes: [{ w: ref.native![0], h: ref.native![1] }], near, step: 2, keep: 1 })[0];
  } else {
    for (const s of [0.995, 1, 1.005]) {
      const [f] = full.scan(ref.grey, { sizes: [{ w: w * s, h: h * s }], near: around(m, k, 1), keep: 1 });
      if (f && (!best || f.score > best.score)) best = f;
      await yieldToLoop();
    }
    if (best) scaled = await refineScaled(canvas, ref.grey, best, yieldToLoop);
  }
  busyMs += performance.now() - sliceStart;
  if (!best) return null;
  if (scaled) return { view: toScaledView(scaled, canvas), score: best.score, native: false, busyMs };
  return { view: toView(best, canvas), score: best.score, native: !!native, busyMs };
}

/**
 * A scaled picture's place and size to a fraction of a pixel. The package's decoder is as
 * particular about a scaled picture as about an unscaled one: cut 1 px (in its own pixels) off,
 * the chess package lost 6-9 F1 points, 2 px most of its commentary (EXPERIMENTS.md "Scaled
 * layouts"); whole-pixel places on a 0.6x picture are up to 1.7 of its pixels off. So the
 * integer match is polished by correlating the reference warped onto the canvas (match.ts
 * warpNcc) at sub-pixel places and scales, a pattern search with halving steps. The score
 * reported stays the whole-pixel one, the measure the finder compares places by.
 */
async function refineScaled(canvas: Grey, ref: Grey, m: Match, yieldToLoop: () => Promise<void>): Promise<Match> {
  let s = m.w / ref.width;
  let x = m.x, y = m.y;
  let score = warpNcc(canvas, ref, x, y, s);
  let step = 0.5, stepS = 0.004;
  for (let round = 0; round < 12 && step > 0.03; round++) {
    let bx = x, by = y, bs = s, best = score;
    for (const ds of [-1, 0, 1]) {
      for (const dy of [-1, 0, 1]) {
        for (const dx of [-1, 0, 1]) {
          if (!dx && !dy && !ds) continue;
          const cs = s * (1 + ds * stepS), cx = x + dx * step, cy = y + dy * step;
          const c = warpNcc(canvas, ref, cx, cy, cs);
          if (c > best) [bx, by, bs, best] = [cx, cy, cs, c];
        }
      }
    }
    if (best > score) [x, y, s, score] = [bx, by, bs, best];
    else [step, stepS] = [step / 2, stepS / 2];
    await yieldToLoop();
  }
  return { x, y, w: s * ref.width, h: s * ref.height, score };
}

/** Top-left positions within `r` pixels of a match, on a level `k` times larger. */
function around(m: Match, k: number, r: number): { x0: number; x1: number; y0: number; y1: number } {
  return { x0: Math.floor((m.x - r) * k), x1: Math.ceil((m.x + r) * k), y0: Math.floor((m.y - r) * k), y1: Math.ceil((m.y + r) * k) };
}

/** The canvas at the coarse width, doubling up to `refineWidth`; the full-size pass reads the canvas itself. */
function pyramid(canvas: Grey, coarseWidth: number, refineWidth: number): Grey[] {
  const out: Grey[] = [];
  for (let w = Math.min(coarseWidth, canvas.width); w <= Math.min(refineWidth, canvas.width); w *= 2) {
    out.push(w === canvas.width ? canvas : resizeGrey(canvas, { x: 0, y: 0, w: canvas.width, h: canvas.height }, w, Math.round((w * canvas.height) / canvas.width)));
  }
  return out;
}

function distinct(found: Match[], keep: number): Match[] {
  found.sort((a, b) => b.score - a.score);
  const out: Match[] = [];
  for (const m of found) {
    if (out.length >= keep) break;
    if (!out.some((o) => Math.abs(o.x - m.x) <= 2 && Math.abs(o.y - m.y) <= 2)) out.push(m);
  }
  return out;
}

/**
 * A pixel rectangle as a view that ffmpeg cuts back to those pixels (cropPixels: x and y rounded,
 * w and h truncated): a quarter pixel more keeps a float's last digit from truncating a whole
 * pixel away, and is rounded off.
 */
function toView(r: Match, canvas: Grey): FrameView {
  const f = (px: number, size: number) => Math.min(1, Math.max(0, Number(((Math.round(px) + 0.25) / size).toPrecision(6))));
  const w = f(r.w, canvas.width), h = f(r.h, canvas.height);
  return [Math.min(f(r.x, canvas.width), 1 - w), Math.min(f(r.y, canvas.height), 1 - h), w, h];
}

/** A scaled picture's place as it is, to a millionth of the canvas (the decoder cuts it at that precision: filter.ts scaledCut). */
function toScaledView(r: Match, canvas: Grey): FrameView {
  const f = (v: number) => Number(v.toFixed(7));
  return [f(r.x / canvas.width), f(r.y / canvas.height), f(r.w / canvas.width), f(r.h / canvas.height)];
}

/**
 * The pixels ffmpeg's crop cuts for `view` on a W x H 4:2:0 picture: x and y rounded, w and h
 * truncated, each then down to even (what `toView` aims at, and what the model is fed).
 */
export function cropPixels(view: FrameView, width: number, height: number): { x: number; y: number; w: number; h: number } {
  const [x, y, w, h] = view;
  return { x: Math.round(x * width) & ~1, y: Math.round(y * height) & ~1, w: Math.trunc(w * width) & ~1, h: Math.trunc(h * height) & ~1 };
}

/** NCC of the reference at `view` on this canvas: is the picture still where we left it? (one place, one size: no tables). */
export function scoreAt(canvas: Grey, ref: ViewReference, view: FrameView): number {
  return nccAt(canvas, ref.grey, cropPixels(view, canvas.width, canvas.height));
}
