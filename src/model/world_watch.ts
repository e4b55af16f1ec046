/**
 * Whether a stream shows the world its model package knows, from the package's per-frame
 * in-world score. A pure processor (no I/O, no timers): the engine feeds it every frame's score
 * and acts on the transitions it returns.
 *
 * Single frames decide only that frame (no commentary on a frame outside the world); the
 * stream's state changes after the content has stayed out for `enterAfterMs` (a cut to a
 * webcam, a menu, another game) and comes back after it has stayed in for `exitAfterMs`, so a
 * flickering score does not flood the streamer with status events.
 */
export type Recognition = 'recognised' | 'unrecognised';

export interface WorldWatchOptions {
  /** Frames scoring under this are outside the world (the package's calibrated threshold). */
  threshold: number;
  /** Stream time out of the world before the stream counts as unrecognised. */
  enterAfterMs: number;
  /** Stream time back in the world before it counts as recognised again. */
  exitAfterMs: number;
}

export const DEFAULT_WORLD_WATCH: Omit<WorldWatchOptions, 'threshold'> = { enterAfterMs: 3000, exitAfterMs: 2000 };

export class WorldWatch {
  private current: Recognition = 'recognised';
  /** Stream time at which the frames started disagreeing with `current`; null while they agree. */
  private since: number | null = null;
  private last = 1;

  constructor(private readonly opts: WorldWatchOptions) {}

  get state(): Recognition {
    return this.current;
  }

  /** The last frame's score. */
  get lastScore(): number {
    return this.last;
  }

  /** True when the last frame was inside the world. */
  get frameInWorld(): boolean {
    return this.last >= this.opts.threshold;
  }

  /** Should the model answer from what it sees? Not while the stream or its last frame is out. */
  get trusted(): boolean {
    return this.current === 'recognised' && this.frameInWorld;
  }

  /** Feeds one frame's score; returns the new state when it changed, else null. */
  observe(streamTimeMs: number, score: number): Recognition | null {
    this.last = Number.isFinite(score) ? score : 0;
    const inWorld = this.last >= this.opts.threshold;
    const agrees = inWorld === (this.current === 'recognised');
    if (agrees) {
      this.since = null;
      return null;
    }
    this.since ??= streamTimeMs;
    const wait = this.current === 'recognised' ? this.opts.enterAfterMs : this.opts.exitAfterMs;
    if (streamTimeMs - this.since < wait) return null;
    this.current = inWorld ? 'recognised' : 'unrecognised';
    this.since = null;
    return this.current;
  }
}
