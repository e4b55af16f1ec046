/**
 * Crop-and-resize of packed RGB24 pictures in JavaScript, for scoring candidate views of a
 * canvas. A pure function, no I/O.
 *
 * The filter is a tent whose support grows with the downscale factor (like PIL's antialiased
 * BILINEAR and close to ffmpeg's `flags=bilinear`, which also widens its taps when shrinking).
 * It is not bit-exact with ffmpeg: candidates are only ranked with it, and the view that wins
 * is then cut by ffmpeg itself (src/decode/filter.ts), so the model sees the pixels it was
 * trained on.
 */
export interface Picture {
  width: number;
  height: number;
  /** Packed pixels, row-major: RGB24 (3 bytes a pixel) or grey (1 byte or float a pixel). */
  data: Uint8Array | Float32Array;
  /** 3 for RGB24 (the default), 1 for grey. */
  channels?: 1 | 3;
}

/** A rectangle in pixels of the picture it is cut from (x, y: top left). */
export interface PixelRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Taps of one output coordinate: first source index and its weights. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  /** Weights per output coordinate (the widest tap set). */
  stride: number;
}

function taps(srcOffset: number, srcSize: number, outSize: number, limit: number): Taps {
  const scale = srcSize / outSize;
  const support = Math.max(1, scale);
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const centre = srcOffset + (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(limit - 1, Math.ceil(centre + support));
    let sum = 0;
    let n = 0;
    for (let s = lo; s <= hi && n < stride; s++) {
      const w = Math.max(0, 1 - Math.abs(s + 0.5 - centre) / support);
      weights[o * stride + n] = w;
      sum += w;
      n++;
    }
    if (n === 0 || sum === 0) {
      // Off the picture (candidates never are): hold the nearest edge pixel.
      weights[o * stride] = 1;
      start[o] = Math.min(limit - 1, Math.max(0, Math.round(centre)));
      count[o] = 1;
      continue;
    }
    for (let i = 0; i < n; i++) weights[o * stride + i]! /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, stride };
}

/** Cuts `rect` out of `src` and resizes it to outW x outH (a stretch when the aspects differ); the same channels out as in. */
export function cropResize<T extends Uint8Array | Float32Array = Uint8Array>(src: Picture, rect: PixelRect, outW: number, outH: number, out?: T): T {
  const c = src.channels ?? 3;
  const dst = (out ?? (src.data instanceof Float32Array ? new Float32Array(outW * outH * c) : new Uint8Array(outW * outH * c))) as T;
  if (dst.length !== outW * outH * c) throw new Error(`cropResize: out holds ${dst.length} values, ${outW}x${outH}x${c} needs ${outW * outH * c}`);
  const round = !(dst instanceof Float32Array);
  const tx = taps(rect.x, rect.w, outW, src.width);
  const ty = taps(rect.y, rect.h, outH, src.height);
  // Horizontal pass over the rows the vertical pass needs, into float rows.
  const rowLo = ty.start[0]!;
  const rowHi = Math.max(...Array.from(ty.start, (s0, o) => s0 + ty.count[o]!));
  const tmp = new Float32Array((rowHi - rowLo) * outW * c);
  for (let y = rowLo; y < rowHi; y++) {
    const srcRow = y * src.width * c;
    const dstRow = (y - rowLo) * outW * c;
    for (let o = 0; o < outW; o++) {
      const s0 = tx.start[o]!;
      const n = tx.count[o]!;
      for (let ch = 0; ch < c; ch++) {
        let v = 0;
        for (let i = 0; i < n; i++) v += src.data[srcRow + (s0 + i) * c + ch]! * tx.weights[o * tx.stride + i]!;
        tmp[dstRow + o * c + ch] = v;
      }
    }
  }
  const rowLen = outW * c;
  for (let o = 0; o < outH; o++) {
    const s0 = ty.start[o]! - rowLo;
    const n = ty.count[o]!;
    for (let x = 0; x < rowLen; x++) {
      let v = 0;
      for (let i = 0; i < n; i++) v += tmp[(s0 + i) * rowLen + x]! * ty.weights[o * ty.stride + i]!;
      dst[o * rowLen + x] = round ? (v < 0 ? 0 : v > 255 ? 255 : Math.round(v)) : v;
    }
  }
  return dst;
}
