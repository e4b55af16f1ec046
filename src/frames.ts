import type { FrameView } from './decode/filter.ts';

/** A decoded, sampled frame, letterboxed or through the package's view: what the model consumes. */
export interface Frame {
  stream: string;
  /** Monotonic per stream, from 0, counting sampled frames. */
  seq: number;
  /** Milliseconds since the stream began, from media timestamps (not arrival time). */
  streamTimeMs: number;
  width: number;
  height: number;
  /** The part of the screen it shows (the package's manifest frame.view); absent: the whole frame. */
  view?: FrameView;
  /** Set when `view` is not the package's own: placed by the view search (src/view/) or pinned in the config. */
  placed?: 'search' | 'config';
  /** Packed RGB24, width*height*3 bytes. */
  data: Uint8Array;
  /** performance.now() when the frame left the decoder; for latency metrics. */
  decodedAt: number;
}
