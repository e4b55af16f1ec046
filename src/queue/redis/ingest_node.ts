import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { EventBus } from '../../bus.ts';
import type { Config } from '../../config/schema.ts';
import type { KibitzEvent } from '../../events.ts';
import type { Logger } from '../../log.ts';
import { readHelpLine } from '../../questions/kinds.ts';
import type { StreamSession } from '../../stream/session.ts';
import { RedisBrain } from './redis_brain.ts';
import { connectRedis, whenReady, within } from './connection.ts';
import { Keys } from './keys.ts';
import { registerQueueMetrics } from './metrics.ts';
import { defaultNodeId, redisQueueOptions, type RedisQueueOptions } from './options.ts';
import { readStatus, type QueueStatus, type StreamQueueInfo } from './status.ts';
import { frameFields, parseNodeMessage, RecentIds } from './wire.ts';

/** What the Redis ingest needs from the app it serves (the model host's parts, src/model_host/port.ts). */
export interface IngestNodeParts {
  config: Config;
  log: Logger;
  bus: EventBus;
  metrics?: { registry: Registry };
  sessions: { list(): StreamSession[]; get(name: string): StreamSession | undefined };
}

interface Forwarding {
  sent: number;
  /** Frames dropped on send errors (the session's own queue counts those dropped while Redis was away). */
  failed: number;
  lastSeq: number;
  lastMs: number;
  /** XADD round trips, ms (last 1000). */
  xaddMs: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An ingest node of the Redis path: forwards every session's frames into its per-stream Redis
 * Stream (exact MAXLEN; never blocking ingest: while Redis is away the session's bounded
 * drop-oldest queue holds the newest frames), registers live streams for the workers,
 * publishes what workers say on this node's bus (once per event id), and answers questions
 * through `brain` (a RedisBrain). The app hands it sessions through `consume`
 * (src/model_host/remote.ts).
 */
export class IngestNode {
  readonly node: string;
  readonly keys: Keys;
  readonly brain: RedisBrain;
  readonly opts: RedisQueueOptions;
  /** Frames and registration: fail fast while disconnected (no unbounded client-side queue). */
  private readonly pub: Redis;
  /** Commands that may wait for a reconnect (questions, status). */
  private readonly cmd: Redis;
  /** Blocking reads of this node's event stream. */
  private readonly sub: Redis;
  private readonly seen = new RecentIds();
  private readonly forwarding = new Map<string, Forwarding>();
  private readonly stop = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly tasks: Promise<unknown>[] = [];
  private snapshot: QueueStatus;
  private closing: Promise<void> | null = null;
  private readonly unownedSince = new Map<string, number>();

  constructor(private readonly host: IngestNodeParts, overrides: Partial<RedisQueueOptions> = {}) {
    this.opts = redisQueueOptions(host.config, overrides);
    this.node = this.opts.nodeId ?? defaultNodeId('ingest');
    this.keys = new Keys(this.opts.prefix);
    const log = host.log.child({ part: 'queue' });
    this.pub = connectRedis(this.opts.url, { log, name: `${this.node}-frames`, offlineQueue: false });
    this.cmd = connectRedis(this.opts.url, { log, name: `${this.node}-cmd` });
    this.sub = this.cmd.duplicate({ connectionName: `${this.node}-events` });
    this.sub.on('error', () => {}); // cmd reports outages
    this.snapshot = { node: this.node, redis: 'connecting', workers: [], streams: [], usedMemoryBytes: null, at: 0 };
    this.brain = new RedisBrain({
      node: this.node, keys: this.keys, opts: this.opts, redis: this.cmd, log,
      session: (name) => host.sessions.get(name),
      publishOnce: (ev) => this.publishOnce(ev),
      help: readHelpLine(host.config.model.package),
    });
    const beatMs = Math.max(100, Math.round(this.opts.leaseMs / 3));
    this.timers.push(setInterval(() => void this.heartbeat(), beatMs));
    this.tasks.push(this.readEvents());
    void this.heartbeat();
    if (host.metrics) registerQueueMetrics(host.metrics.registry, () => this.status());
  }

  private get log(): Logger {
    return this.host.log;
  }

  /** Cached cluster view (refreshed every leaseMs/3): owners, lag, workers. */
  status(): QueueStatus {
    return this.snapshot;
  }

  /** Owner and lag of one stream, for /api/streams items; undefined when unknown. */
  streamInfo(name: string): StreamQueueInfo | undefined {
    return this.snapshot.streams.find((s) => s.name === name);
  }

  /** Reads the cluster view now (also what the heartbeat does). */
  async refresh(): Promise<QueueStatus> {
    const live = this.host.sessions.list().filter((s) => s.state !== 'ended').map((s) => s.name);
    const local = new Map([...this.forwarding].map(([n, f]) => [n, { sent: f.sent, lastSeq: f.lastSeq, lastMs: f.lastMs }]));
    this.snapshot = await readStatus(this.cmd, this.keys, this.opts.leaseMs, this.node, live, local);
    return this.snapshot;
  }

  /** XADD round-trip times of a stream, ms (bench). */
  xaddTimes(stream: string): number[] {
    return this.forwarding.get(stream)?.xaddMs ?? [];
  }

  /** Forwards a session's frames to its Redis Stream until the session ends. */
  consume(session: StreamSession): void {
    const f: Forwarding = { sent: 0, failed: 0, lastSeq: -1, lastMs: -1, xaddMs: [] };
    this.forwarding.set(session.name, f);
    void this.register([session]);
    const task = this.forward(session, f).catch((err: unknown) => this.log.error({ err, stream: session.name }, 'frame forwarding stopped'));
    this.tasks.push(task);
  }

  private async forward(session: StreamSession, f: Forwarding): Promise<void> {
    const key = this.keys.frames(session.name);
    const signal = AbortSignal.any([session.endSignal, this.stop.signal]);
    let fresh = true;
    try {
      for await (const frame of session.frames(signal)) {
        if (this.pub.status !== 'ready' && !(await whenReady(this.pub, signal))) break;
        const t0 = performance.now();
        try {
          // Frames left from an earlier session under this name must not reach the new one's owner.
          if (fresh) await this.pub.del(key);
          fresh = false;
          await this.pub.xadd(key, 'MAXLEN', this.opts.framesMaxLen, '*', ...frameFields(frame));
          f.sent++;
          f.lastSeq = frame.seq;
          f.lastMs = frame.streamTimeMs;
          f.xaddMs.push(performance.now() - t0);
          if (f.xaddMs.length > 1000) f.xaddMs.shift();
        } catch {
          f.failed++;
          if (this.pub.status === 'ready') await sleep(50);
        }
      }
    } finally {
      if (session.state === 'ended') await this.ended(session.name);
    }
  }

  private async ended(name: string): Promise<void> {
    this.brain.streamEnded(name);
    if (this.pub.status !== 'ready') return; // its registration expires by itself
    await this.pub.multi()
      .del(this.keys.stream(name))
      .srem(this.keys.streams, name)
      .pexpire(this.keys.frames(name), 60_000)
      .exec()
      .catch(() => {});
  }

  /** Registers live streams (workers pick them up) and keeps them alive; expires when this node stops. */
  private async register(sessions: StreamSession[]): Promise<void> {
    if (this.pub.status !== 'ready' || sessions.length === 0) return;
    const ttl = 3 * this.opts.leaseMs;
    const m = this.pub.multi();
    for (const s of sessions) {
      const f = this.forwarding.get(s.name);
      m.hset(this.keys.stream(s.name), 'node', this.node, 'fps', String(s.fps), 'width', String(s.width), 'height', String(s.height),
        'startedAt', s.startedAt.toISOString(), 'lastSeq', String(f?.lastSeq ?? -1), 'lastMs', String(f?.lastMs ?? -1));
      m.pexpire(this.keys.stream(s.name), ttl);
      m.sadd(this.keys.streams, s.name);
    }
    m.pexpire(this.keys.nodeEvents(this.node), 3_600_000);
    await m.exec().catch(() => {});
  }

  private async heartbeat(): Promise<void> {
    if (this.stop.signal.aborted) return;
    await this.register(this.host.sessions.list().filter((s) => s.state !== 'ended'));
    if (this.cmd.status === 'ready') {
      await this.refresh().catch(() => {});
      this.warnUnowned();
    } else this.snapshot = { ...this.snapshot, redis: this.cmd.status };
  }

  /** Says once per episode when a live stream has had no worker for a while, and why. */
  private warnUnowned(): void {
    const now = Date.now();
    for (const st of this.snapshot.streams) {
      if (st.owner) {
        this.unownedSince.delete(st.name);
        continue;
      }
      const since = this.unownedSince.get(st.name);
      if (since === undefined) this.unownedSince.set(st.name, now);
      else if (since > 0 && now - since > 3 * this.opts.leaseMs) {
        this.unownedSince.set(st.name, -1); // warned
        const w = this.snapshot.workers;
        const why = w.length === 0 ? 'no worker is running (start one with `kibitz worker`)'
          : `all ${w.length} workers are at capacity (${w.map((x) => `${x.id} ${x.load}/${x.capacity}`).join(', ')}); add a worker or raise queue.capacity`;
        this.log.warn({ stream: st.name }, `stream ${st.name} has no model worker: ${why}`);
      }
    }
  }

  private publishOnce(ev: KibitzEvent): KibitzEvent {
    if (!this.seen.add(ev.id)) return ev;
    return this.host.bus.publish(ev);
  }

  private async readEvents(): Promise<void> {
    const key = this.keys.nodeEvents(this.node);
    let lastId: string | null = this.opts.nodeId ? null : '0-0';
    while (!this.stop.signal.aborted) {
      try {
        if (lastId === null) {
          // A fixed node id may have old entries from a previous run: start from now.
          const [s, us] = await this.sub.time();
          lastId = `${Number(s) * 1000 + Math.floor(Number(us) / 1000)}-0`;
        }
        const res = await this.sub.xread('COUNT', 100, 'BLOCK', 2000, 'STREAMS', key, lastId);
        const entries = res?.[0]?.[1] ?? [];
        for (const [id, fields] of entries) {
          lastId = id;
          const msg = parseNodeMessage(fields);
          if (!msg) continue;
          if (msg.k === 'event') this.publishOnce(msg.event);
          else if (msg.k === 'result') this.brain.onResult(msg.id, msg.result);
          else this.brain.onError(msg.id, msg.code, msg.message);
        }
      } catch {
        if (this.stop.signal.aborted) return;
        await sleep(200);
      }
    }
  }

  /** Idempotent; stops forwarding and reading, fails waiting questions, closes connections. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop.abort();
      for (const t of this.timers) clearInterval(t);
      await this.brain.close();
      this.sub.disconnect();
      await Promise.race([Promise.allSettled(this.tasks), sleep(2000)]);
      for (const r of [this.pub, this.cmd]) await within(r.quit(), 1000);
      this.pub.disconnect();
      this.cmd.disconnect();
    })();
    return this.closing;
  }
}
