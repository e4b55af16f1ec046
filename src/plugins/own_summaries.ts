import type { KibitzEvent } from '../events.ts';

/**
 * At a stream's end every chat plugin asks for its own summary; a chat skips the other plugins'
 * summaries of that ending for this long, so it gets one summary, not one per plugin.
 */
const AFTER_END_MS = 60_000;

/**
 * The model publishes every summary on the bus, the ones a chat asked for itself too; the chat
 * posts those in place (a command's reply, the end-of-stream message), so the bus copy must not
 * reach its channels a second time. A summary event carries no asker, but it is published
 * before the request that caused it returns: a chat runs its own requests through `request`,
 * and skips the summary events of that stream while one is in flight.
 */
export class OwnSummaries {
  private readonly inFlight = new Map<string, number>();
  private readonly quietUntil = new Map<string, number>();

  /** Runs one of this chat's summary requests for `stream` (`endOfStream`: the one it posts when the stream ends). */
  async request<T>(stream: string, run: () => Promise<T>, opts: { endOfStream?: boolean } = {}): Promise<T> {
    this.inFlight.set(stream, (this.inFlight.get(stream) ?? 0) + 1);
    try {
      const r = await run();
      if (opts.endOfStream) this.quietUntil.set(stream, Date.now() + AFTER_END_MS);
      return r;
    } finally {
      const n = this.inFlight.get(stream)! - 1;
      if (n === 0) this.inFlight.delete(stream);
      else this.inFlight.set(stream, n);
    }
  }

  /** A summary event this chat posts (or posted) in place. */
  isOwn(ev: KibitzEvent): boolean {
    if (ev.kind !== 'summary') return false;
    return this.inFlight.has(ev.stream) || (this.quietUntil.get(ev.stream) ?? 0) > Date.now();
  }
}
