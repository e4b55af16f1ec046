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
  /** Packed RGB24, width*height*3 bytes. */
  data: Uint8Array;
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

/** Cuts `rect` out of `src` and resizes it to outW x outH (a stretch when the aspects differ). */
export function cropResize(src: Picture, rect: PixelRect, outW: number, outH: number, out = new Uint8Array(outW * outH * 3)): Uint8Array {
  if (out.length !== outW * outH * 3) throw new Error(`cropResize: out holds ${out.length} bytes, ${outW}x${outH} RGB needs ${outW * outH * 3}`);
  const tx = taps(rect.x, rect.w, outW, src.width);
  const ty = taps(rect.y, rect.h, outH, src.height);
  // Horizontal pass over the rows the vertical pass needs, into float rows.
  const rowLo = ty.start[0]!;
  const rowHi = ty.start[outH - 1]! + ty.count[outH - 1]!;
  const tmp = new Float32Array((rowHi - rowLo) * outW * 3);
  for (let y = rowLo; y < rowHi; y++) {
    const srcRow = y * src.width * 3;
    const dstRow = (y - rowLo) * outW * 3;
    for (let o = 0; o < outW; o++) {
      let r = 0, g = 0, b = 0;
      const s0 = tx.start[o]!;
      for (let i = 0; i < tx.count[o]!; i++) {
        const w = tx.weights[o * tx.stride + i]!;
        const p = srcRow + (s0 + i) * 3;
        r += src.data[p]! * w;
        g += src.data[p + 1]! * w;
        b += src.data[p + 2]! * w;
      }
      const d = dstRow + o * 3;
      tmp[d] = r;
      tmp[d + 1] = g;
      tmp[d + 2] = b;
    }
  }
  for (let o = 0; o < outH; o++) {
    const s0 = ty.start[o]! - rowLo;
    for (let x = 0; x < outW * 3; x++) {
      let v = 0;
      for (let i = 0; i < ty.count[o]!; i++) v += tmp[(s0 + i) * outW * 3 + x]! * ty.weights[o * ty.stride + i]!;
      out[o * outW * 3 + x] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return out;
}
