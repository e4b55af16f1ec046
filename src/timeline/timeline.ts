import { createReadStream } from 'node:fs';
import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { EventBus } from '../bus.ts';
import type { KibitzEvent } from '../events.ts';
import type { Logger } from '../log.ts';

export interface TimelineOptions {
  dataDir: string;
  bus: EventBus;
  log: Logger;
}

export interface ReadOptions {
  /** Only events at or after this stream time (ms). */
  sinceMs?: number;
  /** At most this many (the newest). Default 1000. */
  limit?: number;
}

const SAFE = /^[A-Za-z0-9_-]+$/;

/**
 * Persisted events, one JSONL file per stream: `<dataDir>/timeline/<stream>.jsonl` holds the
 * latest session (stream times are unique within it); when a new session starts the file is
 * archived as `<stream>.<iso time>.jsonl`. The only writer of these files: it subscribes to
 * the EventBus. Writes are batched per stream and never block the bus.
 */
export class Timeline {
  readonly dir: string;
  private unsubscribe: (() => void) | null = null;
  /** Per stream: the promise of the last queued file operation (writes stay ordered). */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly pending = new Map<string, string[]>();

  constructor(private readonly opts: TimelineOptions) {
    this.dir = path.join(opts.dataDir, 'timeline');
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.unsubscribe = this.opts.bus.subscribe((ev) => this.append(ev));
  }

  fileFor(stream: string): string {
    return path.join(this.dir, `${stream}.jsonl`);
  }

  private append(ev: KibitzEvent): void {
    if (!SAFE.test(ev.stream)) return;
    const lines = this.pending.get(ev.stream);
    if (lines) {
      lines.push(JSON.stringify(ev));
      return;
    }
    this.pending.set(ev.stream, [JSON.stringify(ev)]);
    this.enqueue(ev.stream, async () => {
      const batch = this.pending.get(ev.stream) ?? [];
      this.pending.delete(ev.stream);
      if (batch.length) await appendFile(this.fileFor(ev.stream), batch.join('\n') + '\n');
    });
  }

  /** A new session of `stream` begins: archive the previous session's events. */
  beginSession(stream: string): void {
    if (!SAFE.test(stream)) return;
    this.enqueue(stream, async () => {
      const file = this.fileFor(stream);
      const st = await stat(file).catch(() => null);
      if (st && st.size > 0) await rename(file, path.join(this.dir, `${stream}.${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`));
    });
  }

  private enqueue(stream: string, op: () => Promise<void>): void {
    const prev = this.chains.get(stream) ?? Promise.resolve();
    const next = prev.then(op).catch((err) => this.opts.log.error({ err, stream }, 'timeline write failed'));
    this.chains.set(stream, next);
    void next.then(() => {
      if (this.chains.get(stream) === next) this.chains.delete(stream);
    });
  }

  /** Waits for queued writes (all streams, or one). */
  async flush(stream?: string): Promise<void> {
    if (stream !== undefined) await this.chains.get(stream);
    else await Promise.all([...this.chains.values()]);
  }

  async read(stream: string, opts: ReadOptions = {}): Promise<KibitzEvent[]> {
    if (!SAFE.test(stream)) return [];
    await this.flush(stream);
    const limit = opts.limit ?? 1000;
    const out: KibitzEvent[] = [];
    const file = this.fileFor(stream);
    const exists = await stat(file).then(() => true, () => false);
    if (!exists) return out;
    const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const line of rl) {
      if (!line) continue;
      try {
        const ev = JSON.parse(line) as KibitzEvent;
        if (opts.sinceMs !== undefined && ev.streamTimeMs < opts.sinceMs) continue;
        out.push(ev);
        if (out.length > limit) out.shift();
      } catch {
        // A torn last line after a crash: skip it.
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.flush();
  }
}
