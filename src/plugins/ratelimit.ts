/**
 * Outgoing-message budgets. A platform allows N messages per window; the model may speak faster.
 * Replies to askers wait (bounded); commentary that does not fit is merged into the next line
 * that does ("(+3 more)") and never queued without bound.
 */
import { sumCounters } from './counters.ts';

/** Sliding-window counter: at most `limit` takes in any `windowMs`. */
export class SlidingWindow {
  private readonly stamps: number[] = [];
  constructor(readonly limit: number, readonly windowMs: number, private readonly now: () => number = Date.now) {}

  private prune(t: number): void {
    while (this.stamps.length > 0 && t - this.stamps[0]! >= this.windowMs) this.stamps.shift();
  }

  /** Milliseconds until one take would succeed (0 = now). */
  waitMs(): number {
    const t = this.now();
    this.prune(t);
    if (this.stamps.length < this.limit) return 0;
    return this.stamps[0]! + this.windowMs - t;
  }

  /** Takes still available in the current window. */
  remaining(): number {
    this.prune(this.now());
    return this.limit - this.stamps.length;
  }

  tryTake(): boolean {
    const t = this.now();
    this.prune(t);
    if (this.stamps.length >= this.limit) return false;
    this.stamps.push(t);
    return true;
  }
}

export type Priority = 'reply' | 'commentary' | 'notice';

export interface OutboxOptions {
  /** All must have room for a message to go out (e.g. per-channel and per-connection). */
  windows: SlidingWindow[];
  /**
   * Commentary also needs room here (the stream's chat opt-in rate, a few lines a minute):
   * a chat is for people, and bots that talk unprompted get banned.
   */
  commentaryWindow?: SlidingWindow;
  send: (text: string) => Promise<void>;
  /** Replies waiting for budget; beyond this the oldest is dropped (and counted). */
  maxQueuedReplies?: number;
  /** Identical text within this window is not sent again (Twitch refuses it). 0 = off. */
  dedupeMs?: number;
  onError?: (err: unknown) => void;
}

export type OutboxStats = {
  sent: number;
  mergedCommentary: number;
  droppedReplies: number;
  droppedNotices: number;
  duplicatesSkipped: number;
  /** Sends the chat service refused or that failed in transit (logged by the plugin). */
  sendFailures: number;
};

export const emptyOutboxStats = (): OutboxStats =>
  ({ sent: 0, mergedCommentary: 0, droppedReplies: 0, droppedNotices: 0, duplicatesSkipped: 0, sendFailures: 0 });

/** The counters of several outboxes added up (a plugin's, for /metrics). */
export function sumOutboxStats(outboxes: Iterable<Outbox>): OutboxStats {
  return sumCounters([...outboxes].map((o) => o.stats), emptyOutboxStats());
}

/**
 * One outgoing lane (a Discord channel, a Twitch channel). Sends in order of priority:
 * replies, then the latest pending commentary with a count of the lines it stands for;
 * notices (busy, errors) only when nothing waits and more than half the budget is left.
 */
export class Outbox {
  readonly stats = emptyOutboxStats();
  private readonly replies: { text: string; notice: boolean }[] = [];
  private pending: { text: string; count: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly recent = new Map<string, number>();
  private closed = false;
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly opts: OutboxOptions) {}

  push(text: string, priority: Priority): void {
    if (this.closed || text.length === 0) return;
    if (priority === 'reply') {
      this.replies.push({ text, notice: false });
      const max = this.opts.maxQueuedReplies ?? 20;
      while (this.replies.length > max) {
        this.replies.shift();
        this.stats.droppedReplies++;
      }
      // Commentary may be waiting on its own (slower) lane; a reply must not wait behind it.
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    } else if (priority === 'commentary') {
      if (this.pending) {
        this.pending = { text, count: this.pending.count + 1 };
        this.stats.mergedCommentary++;
      } else {
        this.pending = { text, count: 1 };
      }
    } else {
      // Notices (busy, errors) may use only half the budget, so a crowd told "busy" can't
      // crowd out the answers that follow.
      if (this.replies.length > 0 || this.pending || !this.opts.windows.every((w) => w.remaining() > w.limit / 2)) {
        this.stats.droppedNotices++;
        return;
      }
      this.replies.push({ text, notice: true });
    }
    this.pump();
  }

  /** Stop sending; whatever is queued is dropped. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.replies.length = 0;
    this.pending = undefined;
  }

  /** Resolves when everything handed to `send` so far has settled (tests, shutdown). */
  idle(): Promise<void> {
    return this.sending;
  }

  get queued(): number {
    return this.replies.length + (this.pending ? 1 : 0);
  }

  private isDuplicate(text: string): boolean {
    const ms = this.opts.dedupeMs ?? 0;
    if (ms <= 0) return false;
    const now = Date.now();
    for (const [k, t] of this.recent) if (now - t >= ms) this.recent.delete(k);
    return this.recent.has(text);
  }

  private pump(): void {
    if (this.closed || this.timer) return;
    while (this.replies.length > 0 || this.pending) {
      const lanes = this.replies.length === 0 && this.opts.commentaryWindow ? [...this.opts.windows, this.opts.commentaryWindow] : this.opts.windows;
      const wait = Math.max(0, ...lanes.map((w) => w.waitMs()));
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        this.timer.unref?.();
        return;
      }
      let text: string;
      let raw: string | undefined;
      if (this.replies.length > 0) {
        const r = this.replies.shift()!;
        text = r.text;
        if (this.isDuplicate(text)) {
          if (r.notice) {
            this.stats.duplicatesSkipped++;
            continue;
          }
          // A reply that repeats one sent moments ago (same answer to the same person) is
          // still owed; vary it so the platform accepts it.
          for (let n = 2; this.isDuplicate(text); n++) text = `${r.text} (${n})`;
        }
      } else {
        const p = this.pending!;
        this.pending = undefined;
        raw = p.text;
        text = p.count > 1 ? `${p.text} (+${p.count - 1} more)` : p.text;
        if (this.isDuplicate(p.text)) {
          this.stats.duplicatesSkipped++;
          continue;
        }
      }
      for (const w of this.opts.windows) w.tryTake();
      if (raw !== undefined) this.opts.commentaryWindow?.tryTake();
      this.recent.set(text, Date.now());
      if (raw !== undefined) this.recent.set(raw, Date.now());
      this.stats.sent++;
      const p = this.opts.send(text).catch((err) => {
        this.stats.sendFailures++;
        this.opts.onError?.(err);
      });
      this.sending = this.sending.then(() => p);
    }
  }
}
