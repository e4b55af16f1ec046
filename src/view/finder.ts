import type { FrameView } from '../decode/filter.ts';
import type { Grey } from './resample.ts';
import { scoreAt, searchView, type SearchOptions, DEFAULT_SEARCH, type ViewReference } from './search.ts';

/**
 * One stream's view search: where on the streamer's canvas the package's picture is. Fed the
 * decoder's grey canvas (about once a second); answers with a new view when the picture is
 * somewhere else than the view in use. Owned by the stream's session; one search at a time.
 *
 * When it searches: at the stream's first canvas; when the picture is no longer where the view
 * is (the reference's correlation there falls under `minScore`: the window moved, a scene
 * changed); and every `recheckMs` while all is well. While nothing matches (a webcam scene),
 * searches back off from `backoffMs` to `maxBackoffMs`, so a stream without the game costs
 * little. Checking the view in use is one correlation at one place: next to nothing.
 */
export interface FinderOptions {
  /** Below this correlation a place is not the package's picture. */
  minScore: number;
  /** Search again this often while the picture stays put (a layout change that leaves the old place looking alike). */
  recheckMs: number;
  /** While the picture is lost, wait this long before searching again, doubling up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** A found place this close to the view in use (share of the canvas) is the same place: no move. */
  moveTolerance: number;
  search: SearchOptions;
}

export const DEFAULT_FINDER: FinderOptions = { minScore: 0.3, recheckMs: 60_000, backoffMs: 1_000, maxBackoffMs: 30_000, moveTolerance: 0.003, search: DEFAULT_SEARCH };

export type FinderState = 'searching' | 'found' | 'lost';

/** Where to move the decoder's view: `toSize` when the picture there is scaled (Decoder.moveView). */
export interface Placement {
  view: FrameView;
  toSize?: readonly [number, number];
}

/** What `GET /api/streams` shows of a stream's view. */
export interface ViewStatus {
  /** [x, y, w, h] in fractions of the source picture. */
  view: FrameView;
  /** Where that view came from: the package's own, the config (pinned), or the search. */
  from: 'package' | 'config' | 'search';
  state: FinderState | 'pinned';
  /** Correlation of the package's reference at the view, on the newest canvas. */
  score: number | null;
  searches: number;
  /** CPU time the searches took, in all. */
  searchMs: number;
  /** Stream time the view was last found at. */
  foundAtMs: number | null;
}

export class ViewFinder {
  private state_: FinderState = 'searching';
  private busy = false;
  private nextSearchAt = 0;
  private backoff: number;
  private score: number | null = null;
  private searches = 0;
  private searchMs = 0;
  private foundAtMs: number | null = null;
  private from: 'package' | 'search';

  constructor(
    private readonly ref: ViewReference,
    /** The view in use at the start (the package's own, or the whole frame). */
    private view: FrameView,
    private readonly opts: FinderOptions = DEFAULT_FINDER,
  ) {
    this.backoff = opts.backoffMs;
    this.from = 'package';
  }

  get state(): FinderState {
    return this.state_;
  }

  /**
   * A canvas at stream time `tMs`: resolves with the place to move the view to, or null (no change, a
   * search already running, or none due). The caller moves the decoder and then calls `moved`.
   */
  async observe(canvas: Grey, tMs: number, signal?: AbortSignal): Promise<Placement | null> {
    if (this.busy) return null;
    const here = scoreAt(canvas, this.ref, this.view);
    this.score = here;
    if (this.state_ === 'found' && here < this.opts.minScore) {
      this.state_ = 'lost';
      this.nextSearchAt = tMs;
    }
    if (tMs < this.nextSearchAt) return null;
    this.busy = true;
    try {
      const found = await searchView(canvas, this.ref, signal, this.opts.search);
      this.searches++;
      this.searchMs += found?.busyMs ?? 0;
      if (!found || found.score < this.opts.minScore) {
        if (here >= this.opts.minScore) { // nothing better than where we are
          this.settle(tMs, null);
          return null;
        }
        this.nextSearchAt = tMs + this.backoff;
        this.backoff = Math.min(this.opts.maxBackoffMs, this.backoff * 2);
        return null;
      }
      const same = found.view.every((v, i) => Math.abs(v - this.view[i]!) <= this.opts.moveTolerance);
      if (same || found.score <= here) {
        this.settle(tMs, null);
        return null;
      }
      const view = this.settle(tMs, found.view)!;
      // A scaled picture is brought back to the size the package was trained on before the cut.
      return !found.native && this.ref.native ? { view, toSize: this.ref.native } : { view };
    } finally {
      this.busy = false;
    }
  }

  /** The decoder now cuts `view` (what `observe` returned). */
  moved(view: FrameView, tMs: number): void {
    this.view = view;
    this.from = 'search';
    this.foundAtMs = tMs;
  }

  status(): ViewStatus {
    return { view: this.view, from: this.from, state: this.state_, score: this.score === null ? null : Math.round(this.score * 1000) / 1000, searches: this.searches, searchMs: Math.round(this.searchMs), foundAtMs: this.foundAtMs };
  }

  private settle(tMs: number, view: FrameView | null): FrameView | null {
    this.state_ = 'found';
    this.backoff = this.opts.backoffMs;
    this.nextSearchAt = tMs + this.opts.recheckMs;
    if (!view) this.foundAtMs ??= tMs;
    else this.view = view; // checked there from the next canvas on, while the decoder moves
    return view;
  }
}
