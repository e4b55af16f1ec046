import type { Logger } from 'pino';
import type { WebhookOptions } from './options.ts';
import { sign } from './signature.ts';

interface Job {
  id: string;
  body: string;
}

/** One receiver: an ordered, bounded queue drained by a single worker with retries. */
export class Deliverer {
  readonly stats = { delivered: 0, failed: 0, droppedOldest: 0, attempts: 0 };
  private readonly queue: Job[] = [];
  private working: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly o: Pick<WebhookOptions, 'secret' | 'timeoutMs' | 'maxAttempts' | 'backoffMs' | 'maxBackoffMs' | 'queueSize'>,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {}

  enqueue(id: string, body: string): void {
    if (this.signal.aborted) return;
    this.queue.push({ id, body });
    while (this.queue.length > this.o.queueSize) {
      this.queue.shift();
      this.stats.droppedOldest++;
      if (this.stats.droppedOldest === 1 || this.stats.droppedOldest % 100 === 0) {
        this.log.warn({ dropped: this.stats.droppedOldest }, 'webhook queue full; dropping oldest events');
      }
    }
    this.working ??= this.drain().finally(() => (this.working = undefined));
  }

  /** Stops after the attempt in progress (the abort cancels it). */
  async close(): Promise<void> {
    this.queue.length = 0;
    await this.working;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.signal.aborted) {
      const job = this.queue.shift()!;
      await this.deliver(job);
    }
  }

  private async deliver(job: Job): Promise<void> {
    for (let attempt = 1; attempt <= this.o.maxAttempts; attempt++) {
      if (this.signal.aborted) return;
      this.stats.attempts++;
      let retryAfterMs: number | undefined;
      try {
        const headers: Record<string, string> = {
          'content-type': 'application/json',
          'user-agent': 'kibitz-webhook/1',
          'x-kibitz-event-id': job.id,
          'x-kibitz-timestamp': String(Math.floor(Date.now() / 1000)),
          'x-kibitz-attempt': String(attempt),
        };
        if (this.o.secret) headers['x-kibitz-signature'] = sign(this.o.secret, job.body);
        const res = await fetch(this.url, {
          method: 'POST',
          headers,
          body: job.body,
          signal: AbortSignal.any([this.signal, AbortSignal.timeout(this.o.timeoutMs)]),
          redirect: 'error',
        });
        await res.body?.cancel().catch(() => {});
        if (res.ok) {
          this.stats.delivered++;
          return;
        }
        const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
        if (!retryable) {
          this.stats.failed++;
          this.log.warn({ status: res.status, event: job.id }, 'webhook receiver refused the event; not retrying');
          return;
        }
        const ra = Number(res.headers.get('retry-after'));
        if (Number.isFinite(ra) && ra > 0) retryAfterMs = Math.min(ra * 1000, this.o.maxBackoffMs);
        this.log.debug({ status: res.status, attempt }, 'webhook delivery failed');
      } catch (err) {
        if (this.signal.aborted) return;
        this.log.debug({ err, attempt }, 'webhook delivery error');
      }
      if (attempt < this.o.maxAttempts) {
        const backoff = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** (attempt - 1));
        const jitter = backoff * 0.2 * Math.random();
        await sleep(retryAfterMs ?? backoff + jitter, this.signal);
      }
    }
    this.stats.failed++;
    this.log.warn({ event: job.id, attempts: this.o.maxAttempts }, 'webhook delivery gave up');
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
