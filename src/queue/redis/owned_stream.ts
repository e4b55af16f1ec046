import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { BrainError } from '../../brain.ts';
import type { Frame } from '../../frames.ts';
import type { Logger } from '../../log.ts';
import type { ModelEngine } from '../../model/engine.ts';
import type { Keys } from './keys.ts';
import type { ScriptedRedis } from './lua.ts';
import type { RedisQueueOptions } from './options.ts';
import { parseFrame, type AskJob, type JobResult } from './wire.ts';

export const NODE_EVENTS_MAXLEN = 10_000;
/** As long as BullMQ keeps finished jobs (their ids dedupe repeats), so Redis memory stays bounded. */
const ANSWERED_TTL_S = 3600;

/** Test and bench hooks of a worker. */
export interface WorkerHooks {
  /**
   * Every frame handed to the model, in order (`replay`: rebuilding context after a takeover);
   * `receivedAt`: performance.now() when it came out of Redis here.
   */
  onFrame?(stream: string, frame: Frame, replay: boolean, receivedAt: number): void;
  /** Runs after the model answered and before the answer is published (tests kill the worker here). */
  beforeAnswer?(job: AskJob): Promise<void>;
}

export interface WorkerContext {
  id: string;
  opts: RedisQueueOptions;
  keys: Keys;
  /** Shared command connection (scripts registered). */
  redis: ScriptedRedis;
  /** Shared connection for BullMQ workers (they duplicate their own blocking ones). */
  bull: Redis;
  engine: ModelEngine;
  log: Logger;
  hooks: WorkerHooks;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One stream this worker holds the lease for: reads its frames in order from the Redis Stream
 * and feeds the model, and is the only consumer of its question queue. A new owner first
 * replays the last few buffered frames to rebuild context, without repeating commentary the
 * previous owner already published.
 */
export class OwnedStream {
  /** The ingest node that receives this stream's events. */
  node: string;
  /** Commentary about frames at or before this stream time was already published by a previous owner. */
  suppressUntilMs = -1;
  stopping = false;
  lastSeq = -1;
  outOfOrder = 0;
  framesIn = 0;
  framesSkipped = 0;
  /** Newest frame handed to the model (it may still skip it when it is behind). */
  handedSeq = -1;
  handedMs = -1;
  readonly since = Date.now();
  private progressMark = { processed: 0, framesIn: 0, at: Date.now() };
  private readonly abort = new AbortController();
  private reader: Redis | null = null;
  private bullWorker: Worker | null = null;
  private loop: Promise<void> | null = null;

  constructor(readonly name: string, node: string, readonly sid: string, private readonly ctx: WorkerContext) {
    this.node = node;
  }

  async start(): Promise<void> {
    const { ctx, name } = this;
    const prev = await ctx.redis.hgetall(ctx.keys.progress(name));
    if (prev.worker && prev.worker !== ctx.id && prev.ms !== undefined) this.suppressUntilMs = Number(prev.ms);
    ctx.engine.open(name);
    this.reader = ctx.redis.duplicate();
    this.reader.on('error', () => {}); // the shared connection reports outages
    this.loop = this.readLoop().catch((err: unknown) => {
      if (!this.stopping) ctx.log.error({ err, stream: name }, 'frame reader stopped');
    });
    const lockMs = ctx.opts.leaseMs;
    this.bullWorker = new Worker<AskJob>(ctx.keys.askQueue(name), (job) => this.process(job), {
      connection: ctx.bull, prefix: ctx.keys.bullPrefix, concurrency: 1,
      lockDuration: lockMs, stalledInterval: Math.max(250, Math.round(lockMs / 4)), maxStalledCount: 10,
    });
    this.bullWorker.on('error', (err) => {
      if (!this.stopping) ctx.log.warn({ err: err.message, stream: name }, 'question queue worker error');
    });
  }

  /** Stops reading and answering; the model context is disposed. The lease is the caller's business. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.abort.abort();
    this.reader?.disconnect();
    this.ctx.engine.end(this.name); // questions the model holds fail; process() sees `stopping` and hands them back
    const w = this.bullWorker;
    if (w) {
      const closed = await Promise.race([w.close().then(() => true, () => true), sleep(3000).then(() => false)]);
      if (!closed) void w.close(true).catch(() => {});
    }
    await Promise.race([this.loop, sleep(3000)]);
  }

  private async readLoop(): Promise<void> {
    const { ctx, name } = this;
    const r = this.reader!;
    const key = ctx.keys.frames(name);
    const signal = this.abort.signal;
    let lastId = '0-0';
    // Rebuild context from the newest buffered frames (all of them for a new stream).
    const replayN = Math.max(1, ctx.opts.replayFrames);
    let recent: [Buffer, Buffer[]][] = [];
    for (;;) {
      try {
        recent = (await r.xrevrangeBuffer(key, '+', '-', 'COUNT', replayN)).reverse();
        break;
      } catch {
        if (signal.aborted) return;
        await sleep(200); // Redis is away; the lease decides whether this stream is still ours when it returns
      }
    }
    if (recent.length > 0) lastId = recent[recent.length - 1]![0].toString();
    for (const [, fields] of recent.slice(-ctx.opts.replayFrames || recent.length)) {
      if (signal.aborted) return;
      const f = parseFrame(name, fields);
      if (f) await this.feed(f, true, f.streamTimeMs <= this.suppressUntilMs, performance.now());
    }
    while (!signal.aborted) {
      let res: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        res = (await r.xreadBuffer('COUNT', 64, 'BLOCK', 1000, 'STREAMS', key, lastId)) as typeof res;
      } catch {
        if (signal.aborted) return;
        await sleep(200);
        continue;
      }
      const entries = res?.[0]?.[1];
      if (!entries || entries.length === 0) continue;
      const receivedAt = performance.now();
      lastId = entries[entries.length - 1]![0].toString();
      let list = entries;
      if (list.length > ctx.opts.maxBacklog) {
        // Behind: the newest frames matter most for live commentary.
        this.framesSkipped += list.length - ctx.opts.maxBacklog;
        list = list.slice(-ctx.opts.maxBacklog);
      }
      for (const [, fields] of list) {
        if (signal.aborted) return;
        const f = parseFrame(name, fields);
        if (f) await this.feed(f, false, false, receivedAt);
      }
    }
  }

  /**
   * Hands one frame to the model, in order. Live frames are offered without waiting (the engine
   * keeps the newest one per stream and counts the ones it had to skip); context-rebuild frames
   * wait until the model has taken each, so all of them enter the context.
   */
  private async feed(frame: Frame, rebuild: boolean, replay: boolean, receivedAt: number): Promise<void> {
    const { ctx, name } = this;
    if (frame.seq <= this.lastSeq) {
      this.outOfOrder++;
      return;
    }
    this.lastSeq = frame.seq;
    this.framesIn++;
    ctx.hooks.onFrame?.(name, frame, replay, receivedAt);
    if (!ctx.engine.stats(name)) return; // not open in the engine (ended)
    if (rebuild) await ctx.engine.offerAndWait(frame, { signal: this.abort.signal, timeoutMs: 30_000 });
    else ctx.engine.offer(frame);
    this.handedSeq = frame.seq;
    this.handedMs = Math.max(this.handedMs, frame.streamTimeMs);
    if (!this.stopping) {
      const st = ctx.engine.stats(name);
      ctx.redis.hset(ctx.keys.progress(name), 'worker', ctx.id, 'seq', String(frame.seq), 'ms', String(this.handedMs), 'at', String(Date.now()),
        'n', String(this.framesIn), 'p', String(st?.framesProcessed ?? 0), 'lat', (st?.lastDecisionLatencyMs ?? 0).toFixed(1))
        .catch(() => {});
    }
  }

  private async process(job: Job<AskJob>): Promise<string> {
    const { ctx, name } = this;
    const d = job.data;
    if (this.stopping) throw new Error(`stream ${name} is moving to another worker`);
    const marker = ctx.keys.answered(d.id);
    if (await ctx.redis.exists(marker)) return 'answered before';
    let result: JobResult;
    try {
      if (d.kind === 'ask') {
        const r = await ctx.engine.ask({ stream: name, question: d.question ?? '', user: d.user, source: d.source, id: d.id });
        result = { kind: 'ask', event: r.event, answer: r.answer, t: r.t };
      } else {
        const r = await ctx.engine.summary(name, d.minutes ?? 5);
        const event = { id: `s-${d.id}`, stream: name, kind: 'summary' as const, text: r.summary, streamTimeMs: r.to, wallTime: new Date().toISOString() };
        result = { kind: 'summary', event, summary: r.summary, from: r.from, to: r.to };
      }
    } catch (err) {
      if (this.stopping) throw new Error(`stream ${name} moved to another worker`);
      if (err instanceof BrainError) {
        await ctx.redis.xadd(ctx.keys.nodeEvents(d.node), 'MAXLEN', '~', NODE_EVENTS_MAXLEN, '*', 'k', 'error', 'q', d.id, 'c', err.code, 'm', err.message);
        throw new UnrecoverableError(err.message);
      }
      throw err;
    }
    await ctx.hooks.beforeAnswer?.(d);
    // Exactly once across owners: the first result for this id is stored and published, atomically.
    const prev = await ctx.redis.answerOnce(marker, ctx.keys.nodeEvents(d.node), d.id, JSON.stringify(result), ANSWERED_TTL_S, NODE_EVENTS_MAXLEN);
    return prev === null ? 'answered' : 'answered before';
  }

  /**
   * True when frames keep arriving but the model has stepped none of them for `ms` (a model stuck
   * while the event loop, and so the lease, lives on).
   */
  stalled(ms: number): boolean {
    const processed = this.ctx.engine.stats(this.name)?.framesProcessed ?? 0;
    const now = Date.now();
    if (processed !== this.progressMark.processed) {
      this.progressMark = { processed, framesIn: this.framesIn, at: now };
      return false;
    }
    if (this.framesIn - this.progressMark.framesIn < 2) {
      this.progressMark.at = now; // no new input: nothing to be late with
      return false;
    }
    return now - this.progressMark.at > ms;
  }

  toJSON() {
    return {
      name: this.name, node: this.node, framesIn: this.framesIn, framesSkipped: this.framesSkipped, outOfOrder: this.outOfOrder,
      handedSeq: this.handedSeq, handedMs: this.handedMs, framesProcessed: this.ctx.engine.stats(this.name)?.framesProcessed ?? 0,
      decisionLatencyMs: this.ctx.engine.stats(this.name)?.lastDecisionLatencyMs ?? 0,
    };
  }
}
