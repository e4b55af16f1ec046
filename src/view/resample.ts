/**
 * Crop-and-resize of grey pictures in JavaScript: the canvas pyramid and the reference at every
 * size the view search tries. A pure function, no I/O.
 *
 * The filter is a tent whose support grows with the downscale factor (like PIL's antialiased
 * BILINEAR and close to ffmpeg's `flags=bilinear`, which also widens its taps when shrinking).
 * It is not bit-exact with ffmpeg and need not be: it only ranks places, and the view that wins
 * is cut by ffmpeg itself (src/decode/filter.ts), so the model sees the pixels it was trained on.
 */
export interface Grey {
  width: number;
  height: number;
  /** One value a pixel, row-major (bytes from ffmpeg, floats once resized). */
  data: Uint8Array | Float32Array;
}

/** A rectangle in pixels of the picture it is cut from (x, y: top left). */
export interface PixelRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Taps of each output coordinate: first source index, how many, and their weights. */
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

/** `rect` of `src` resized to w x h (a stretch when the aspects differ). */
export function resizeGrey(src: Grey, rect: PixelRect, w: number, h: number): Grey {
  const tx = taps(rect.x, rect.w, w, src.width);
  const ty = taps(rect.y, rect.h, h, src.height);
  // Horizontal pass over the rows the vertical pass needs, then the vertical pass.
  const rowLo = ty.start[0]!;
  let rowHi = rowLo;
  for (let o = 0; o < h; o++) rowHi = Math.max(rowHi, ty.start[o]! + ty.count[o]!);
  const tmp = new Float32Array((rowHi - rowLo) * w);
  for (let y = rowLo; y < rowHi; y++) {
    const srcRow = y * src.width;
    const dstRow = (y - rowLo) * w;
    for (let o = 0; o < w; o++) {
      const s0 = srcRow + tx.start[o]!;
      let v = 0;
      for (let i = 0; i < tx.count[o]!; i++) v += src.data[s0 + i]! * tx.weights[o * tx.stride + i]!;
      tmp[dstRow + o] = v;
    }
  }
  const out = new Float32Array(w * h);
  for (let o = 0; o < h; o++) {
    const s0 = ty.start[o]! - rowLo;
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let i = 0; i < ty.count[o]!; i++) v += tmp[(s0 + i) * w + x]! * ty.weights[o * ty.stride + i]!;
      out[o * w + x] = v;
    }
  }
  return { width: w, height: h, data: out };
}
