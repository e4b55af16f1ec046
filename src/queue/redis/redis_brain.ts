import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BrainError, type AnswerResult, type AskRequest, type Brain, type SummaryResult } from '../../brain.ts';
import { newEventId, type KibitzEvent } from '../../events.ts';
import type { Logger } from '../../log.ts';
import { OPEN_HELP } from '../../questions/kinds.ts';
import type { StreamSession } from '../../stream/session.ts';
import type { Keys } from './keys.ts';
import type { RedisQueueOptions } from './options.ts';
import { readWorkers } from './workers.ts';
import type { AskJob, JobResult } from './wire.ts';

interface Pending {
  stream: string;
  resolve(r: JobResult): void;
  reject(err: Error): void;
  promise: Promise<JobResult>;
}

export interface RedisBrainDeps {
  node: string;
  keys: Keys;
  opts: RedisQueueOptions;
  /** Commands (offline queue on: a question asked while Redis restarts waits for it, within the timeout). */
  redis: Redis;
  log: Logger;
  session(name: string): StreamSession | undefined;
  /** Publishes a worker's event on this node's bus once (by event id); returns the published event. */
  publishOnce(ev: KibitzEvent): KibitzEvent;
  /** What can be asked, from the manifest of the package the workers run (model.package); null: unknown. */
  help: string | null;
}

/**
 * The Brain of an ingest node in front of Redis: questions and summaries become BullMQ jobs on
 * the stream's own queue (job id = question id, so a retried or repeated question is one job),
 * answered by whichever worker owns the stream; the result comes back on this node's event
 * stream, published exactly once by the worker (see answerOnce).
 */
export class RedisBrain implements Brain {
  private readonly queues = new Map<string, Queue<AskJob>>();
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  /** Since when the command connection has been up (null while down). */
  private readySince: number | null = null;

  constructor(private readonly d: RedisBrainDeps) {
    if (d.redis.status === 'ready') this.readySince = Date.now();
    d.redis.on('ready', () => (this.readySince = Date.now()));
    d.redis.on('close', () => (this.readySince = null));
  }

  async ask(req: AskRequest, signal?: AbortSignal): Promise<AnswerResult> {
    this.liveSession(req.stream);
    const { question } = req; // through the question gate already (src/questions/gate.ts)
    const id = req.id ?? newEventId();
    const r = await this.run({ kind: 'ask', id, stream: req.stream, node: this.d.node, question, user: req.user, source: req.source, at: Date.now() }, signal);
    const event = this.d.publishOnce(r.event);
    return { answer: r.answer ?? r.event.text, t: r.t ?? r.event.streamTimeMs, event };
  }

  /** From the manifest alone: a line that costs no round trip to a worker. */
  help(_stream: string): string {
    return this.d.help ?? OPEN_HELP;
  }

  async summary(stream: string, minutes: number, signal?: AbortSignal): Promise<SummaryResult> {
    this.liveSession(stream);
    const r = await this.run({ kind: 'summary', id: `sum-${newEventId()}`, stream, node: this.d.node, minutes, at: Date.now() }, signal);
    this.d.publishOnce(r.event);
    return { summary: r.summary ?? r.event.text, from: r.from ?? 0, to: r.to ?? r.event.streamTimeMs };
  }

  /** A result arrived on this node's event stream. */
  onResult(id: string, result: JobResult): void {
    const p = this.pending.get(id);
    if (p) p.resolve(result);
    else this.d.publishOnce(result.event); // asked before a restart or timed out here: still goes to the timeline
  }

  onError(id: string, code: string, message: string): void {
    this.pending.get(id)?.reject(new BrainError(code as BrainError['code'], message));
  }

  /** The stream ended on this node: its waiting questions fail now. */
  streamEnded(stream: string): void {
    for (const p of this.pending.values()) if (p.stream === stream) p.reject(new BrainError('STREAM_ENDED', `stream ${stream} ended before the question was answered`));
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new BrainError('NO_MODEL', 'kibitz is shutting down'));
    await Promise.all([...this.queues.values()].map((q) => Promise.race([q.close(), new Promise((r) => setTimeout(r, 2000))]).catch(() => {})));
  }

  private liveSession(name: string): StreamSession {
    const s = this.d.session(name);
    if (!s) throw new BrainError('UNKNOWN_STREAM', `stream ${name} is not live`);
    if (s.state === 'ended') throw new BrainError('STREAM_ENDED', `stream ${name} has ended`);
    return s;
  }

  private queue(stream: string): Queue<AskJob> {
    let q = this.queues.get(stream);
    if (!q) {
      q = new Queue<AskJob>(this.d.keys.askQueue(stream), { connection: this.d.redis, prefix: this.d.keys.bullPrefix });
      q.on('error', (err) => this.d.log.warn({ err: err.message, stream }, 'question queue error'));
      this.queues.set(stream, q);
    }
    return q;
  }

  private async run(job: AskJob, signal?: AbortSignal): Promise<JobResult> {
    if (this.closed) throw new BrainError('NO_MODEL', 'kibitz is shutting down');
    if (signal?.aborted) throw new BrainError('TIMEOUT', 'the request was cancelled');
    const same = this.pending.get(job.id);
    if (same) return same.promise; // the same question id asked twice: one job, one answer
    const { redis, keys } = this.d;
    if (redis.status === 'ready') {
      const prev = await redis.get(keys.answered(job.id));
      if (prev) return JSON.parse(prev) as JobResult;
      // Right after (re)connecting, workers may not have advertised yet: only a settled "none" is NO_MODEL.
      const settled = this.readySince !== null && Date.now() - this.readySince > 2 * this.d.opts.leaseMs;
      const workers = settled ? await readWorkers(redis, keys, this.d.opts.leaseMs) : [undefined];
      if (workers.length === 0) throw new BrainError('NO_MODEL', 'no kibitz worker is running: start one with `kibitz worker`');
    }
    let entry!: Pending;
    const promise = new Promise<JobResult>((resolve, reject) => {
      const timer = setTimeout(() => done(new BrainError('TIMEOUT', `no answer within ${this.d.opts.askTimeoutMs} ms`)), this.d.opts.askTimeoutMs);
      const onAbort = () => done(new BrainError('TIMEOUT', 'the request was cancelled'));
      const done = (err: Error | null, r?: JobResult) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (this.pending.get(job.id) === entry) this.pending.delete(job.id);
        if (err) reject(err);
        else resolve(r!);
      };
      entry = { stream: job.stream, resolve: (r) => done(null, r), reject: (e) => done(e), promise: null as unknown as Promise<JobResult> };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    entry.promise = promise;
    this.pending.set(job.id, entry);
    this.queue(job.stream)
      .add(job.kind, job, { jobId: job.id, attempts: 5, backoff: { type: 'fixed', delay: 250 }, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } })
      .catch((err: unknown) => entry.reject(new BrainError('NO_MODEL', `could not queue the question: ${(err as Error).message}`)));
    return promise;
  }
}
