import type { StreamState } from '../events.ts';
import type { Frame } from '../frames.ts';
import { DropOldestQueue } from './queue.ts';
import type { FrameScaler, FrameView } from '../decode/filter.ts';
import type { ViewFinder, ViewStatus } from '../view/finder.ts';

export interface SessionCounters {
  /** Video frames received from the publisher and handed to the decoder. */
  framesDecoded: number;
  /** Frames that came out of the decoder at the model's rate. */
  framesSampled: number;
  /** Sampled frames dropped from the bounded queue because no consumer took them in time. */
  framesDropped: number;
  /** Decoder runs that ended abnormally (crash, kill, undecodable input). */
  decodeErrors: number;
  /** Publisher reconnects within the grace period. */
  reconnects: number;
}

export interface PublisherInfo {
  protocol: string;
  /** Remote address, when the ingest knows it. */
  ip?: string;
  /** ISO time this publisher connected. */
  since: string;
}

export interface SessionOptions {
  name: string;
  fps: number;
  width: number;
  height: number;
  /** The part of the screen the model looks at (its manifest's frame.view); absent: the whole frame. */
  view?: FrameView;
  /** The scaler the model's frames are made with (its manifest's frame.scaler); absent: bilinear. */
  scaler?: FrameScaler;
  /** Where `view` came from: the package, or pinned in the config (`decode.view`). */
  viewFrom?: 'package' | 'config';
  /** The stream's view search (the package has a view reference and the config pins no view); absent: the view stays. */
  finder?: ViewFinder;
  /** How the decoder makes the model's frames from a moved view (search mode only). */
  fit?: 'stretch' | 'letterbox';
  queueCapacity: number;
  /** Called for every dropped frame (metrics). */
  onDrop?: () => void;
}

/**
 * The one owner of a stream's state between publish and end: state, counters, stream time
 * and the bounded frame queue. A reconnect within the grace period keeps the same session,
 * so stream time and counters continue. The registry drives it; others read it and consume
 * `frames()`.
 */
export class StreamSession {
  readonly name: string;
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  /** The part of the source picture the model's frames are cut from now; the view search moves it (`useView`). */
  get view(): FrameView | undefined {
    return this.view_;
  }
  readonly scaler: FrameScaler | undefined;
  /** The stream's view search; null when the view stays where the package or the config put it. */
  readonly finder: ViewFinder | null;
  readonly fit: 'stretch' | 'letterbox';
  private view_: FrameView | undefined;
  private placed: 'search' | 'config' | undefined;
  readonly startedAt = new Date();
  endedAt: Date | null = null;
  state: StreamState = 'live';
  publisher: PublisherInfo | null = null;
  /** Why the session ended, when it did not end by the grace period running out. */
  endReason: string | null = null;
  readonly counters: SessionCounters = { framesDecoded: 0, framesSampled: 0, framesDropped: 0, decodeErrors: 0, reconnects: 0 };
  /** Stream time of the newest sampled frame (-1 before the first). */
  lastFrameMs = -1;
  private readonly queue: DropOldestQueue<Frame>;
  private consuming = false;
  private runOffsetMs = 0;
  private readonly endController = new AbortController();

  constructor(private readonly opts: SessionOptions) {
    this.name = opts.name;
    this.fps = opts.fps;
    this.width = opts.width;
    this.height = opts.height;
    this.view_ = opts.view;
    this.placed = opts.viewFrom === 'config' ? 'config' : undefined;
    this.scaler = opts.scaler;
    this.finder = opts.finder ?? null;
    this.fit = opts.fit ?? (opts.view ? 'stretch' : 'letterbox');
    this.queue = new DropOldestQueue<Frame>(opts.queueCapacity);
  }

  /** Aborted when the session ends (grace period over, fatal input error, shutdown). */
  get endSignal(): AbortSignal {
    return this.endController.signal;
  }

  /** Stream time now: the newest frame's time, 0 before any. */
  get streamTimeMs(): number {
    return Math.max(0, this.lastFrameMs);
  }

  get queuedFrames(): number {
    return this.queue.size;
  }

  /**
   * Sampled frames, oldest first, until the session ends or `signal` aborts. One consumer at a
   * time (a second concurrent call throws). Frames that arrive with no consumer wait in the
   * bounded queue, where the oldest are dropped.
   */
  frames(signal?: AbortSignal): AsyncIterable<Frame> {
    if (this.consuming) throw new Error(`stream "${this.name}" already has a frame consumer`);
    this.consuming = true;
    const release = () => {
      this.consuming = false;
    };
    const queue = this.queue;
    return {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const r = await queue.next(signal);
          if (r.done) release();
          return r;
        },
        return: async () => {
          release();
          return { value: undefined, done: true };
        },
      }),
    };
  }

  // ---- driven by the registry / publish ----

  /** A decoder run starts: its frames continue after the time this session has reached. */
  beginDecoderRun(): void {
    this.runOffsetMs = this.lastFrameMs < 0 ? 0 : this.lastFrameMs + 1000 / this.fps;
  }

  /** The decoder now cuts the model's frames from `view`, found by the view search at stream time `tMs`. */
  useView(view: FrameView, tMs: number): void {
    this.view_ = view;
    this.placed = 'search';
    this.finder?.moved(view, tMs);
  }

  /** Where the view is and how it got there (`GET /api/streams`). */
  viewStatus(): ViewStatus | { view: FrameView | null; from: 'package' | 'config'; state: 'pinned' } {
    if (this.finder) return this.finder.status();
    return { view: this.view_ ?? null, from: this.placed === 'config' ? 'config' : 'package', state: 'pinned' };
  }

  /** A frame from the current decoder run at `relMs` since that run's first frame. */
  pushFrame(data: Buffer, relMs: number, decodedAt: number): Frame {
    const streamTimeMs = Math.round(this.runOffsetMs + relMs);
    const frame: Frame = { stream: this.name, seq: this.counters.framesSampled, streamTimeMs, width: this.width, height: this.height, ...(this.view_ ? { view: this.view_ } : {}), ...(this.placed ? { placed: this.placed } : {}), data, decodedAt };
    this.counters.framesSampled++;
    this.lastFrameMs = this.runOffsetMs + relMs;
    if (this.queue.push(frame) !== undefined) {
      this.counters.framesDropped++;
      this.opts.onDrop?.();
    }
    return frame;
  }

  end(reason: string | null): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endedAt = new Date();
    this.endReason = reason;
    this.publisher = null;
    this.queue.close();
    this.endController.abort();
  }

  /** The JSON shape of `GET /api/streams` items. */
  toJSON() {
    return {
      name: this.name,
      state: this.state,
      ...this.counters,
      queuedFrames: this.queue.size,
      streamTimeMs: Math.round(this.streamTimeMs),
      startedAt: this.startedAt.toISOString(),
      endedAt: this.endedAt?.toISOString() ?? null,
      endReason: this.endReason,
      publisher: this.publisher ? { protocol: this.publisher.protocol, since: this.publisher.since } : null,
      fps: this.fps,
      width: this.width,
      height: this.height,
      view: this.viewStatus(),
    };
  }
}
