import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { EventBus } from '../../bus.ts';
import type { Logger } from '../../log.ts';
import type { ModelEngine } from '../../model/engine.ts';
import { connectRedis, within } from './connection.ts';
import { Keys } from './keys.ts';
import { withScripts, type ScriptedRedis } from './lua.ts';
import type { RedisQueueOptions } from './options.ts';
import { NODE_EVENTS_MAXLEN, OwnedStream, type WorkerContext, type WorkerHooks } from './owned_stream.ts';
import { readWorkers } from './workers.ts';

/**
 * A model worker's membership in the cluster: heartbeats its capacity and load, holds and
 * renews one lease per stream it runs, takes unowned streams when it is the least-loaded worker
 * with room (or when the best one has not taken them for a few polls), and drops a stream the
 * moment its lease is found to be someone else's. Commentary leaves through a fenced publish,
 * so a worker that lost its lease (hung, partitioned) cannot speak for the stream.
 */
export class WorkerNode {
  readonly keys: Keys;
  private readonly redis: ScriptedRedis;
  private readonly bull: Redis;
  private readonly owned = new Map<string, OwnedStream>();
  private readonly unownedSince = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private ticking = false;
  private beating = false;
  /** A stuck model gives its streams up and takes none until then. */
  private pausedUntil = 0;
  private readonly ctx: WorkerContext;
  private readonly unsubscribe: () => void;
  /** Streams taken over from another worker, and lost to one (metrics, tests). */
  readonly counters = { claims: 0, lost: 0, ended: 0, publishedEvents: 0, fencedOff: 0 };

  constructor(
    readonly id: string,
    private readonly url: string,
    private readonly opts: RedisQueueOptions,
    engine: ModelEngine,
    /** The engine's private bus: commentary from it is forwarded to the owning ingest node. */
    bus: EventBus,
    private readonly log: Logger,
    hooks: WorkerHooks = {},
  ) {
    this.keys = new Keys(opts.prefix);
    this.redis = withScripts(connectRedis(url, { log, name: `${id}-cmd` }));
    this.bull = connectRedis(url, { log, name: `${id}-bull` });
    this.ctx = { id, opts, keys: this.keys, redis: this.redis, bull: this.bull, engine, log, hooks };
    this.unsubscribe = bus.subscribe((ev) => {
      // Answers and summaries go out once per question id through the job (answerOnce). Commentary
      // and the model's own status (the stream left / came back to the package's world) go here.
      if (ev.kind !== 'commentary' && !(ev.kind === 'status' && (ev.status === 'unrecognised' || ev.status === 'recognised'))) return;
      const o = this.owned.get(ev.stream);
      if (!o || o.stopping || ev.streamTimeMs <= o.suppressUntilMs) return;
      this.redis.publishFenced(this.keys.lease(ev.stream), this.keys.nodeEvents(o.node), id, NODE_EVENTS_MAXLEN, JSON.stringify(ev))
        .then((ok) => {
          if (ok) this.counters.publishedEvents++;
          else {
            this.counters.fencedOff++;
            void this.drop(ev.stream, 'lease lost', false);
          }
        })
        .catch((err: unknown) => log.warn({ err, stream: ev.stream, kind: ev.kind }, 'could not publish a model event'));
    });
  }

  get capacity(): number {
    return this.opts.capacity;
  }

  get streams(): string[] {
    return [...this.owned.keys()];
  }

  owner(stream: string): OwnedStream | undefined {
    return this.owned.get(stream);
  }

  start(): void {
    const beatMs = Math.max(100, Math.round(this.opts.leaseMs / 3));
    this.timers.push(setInterval(() => void this.heartbeat(), beatMs));
    this.timers.push(setInterval(() => void this.claimTick(), this.opts.pollMs));
    void this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    if (this.closed || this.beating) return;
    this.beating = true;
    try {
      await this.advertise();
      for (const [name, o] of [...this.owned]) {
        if (o.stopping) continue;
        if (o.stalled(3 * this.opts.leaseMs)) {
          this.log.error({ stream: name, worker: this.id }, `the model has stepped no frame of ${name} for ${3 * this.opts.leaseMs} ms; giving the stream to another worker`);
          this.pausedUntil = Date.now() + 10 * this.opts.leaseMs;
          await this.drop(name, 'model stalled', true);
          continue;
        }
        const ok = await this.redis.leaseRenew(this.keys.lease(name), this.id, this.opts.leaseMs);
        if (!ok) await this.drop(name, 'lease taken by another worker', false);
      }
    } catch {
      // Redis is away: the connection logs it; leases lapse if it stays away, and are re-taken or lost when it returns.
    } finally {
      this.beating = false;
    }
  }

  private async advertise(): Promise<void> {
    const now = Date.now();
    await this.redis.multi()
      .hset(this.keys.worker(this.id), 'capacity', String(this.opts.capacity), 'load', String(Date.now() < this.pausedUntil ? this.opts.capacity : this.owned.size), 'streams', this.streams.join(','),
        'pid', String(process.pid), 'host', hostname(), 'beat', String(now))
      .pexpire(this.keys.worker(this.id), this.opts.leaseMs)
      .zadd(this.keys.workers, now, this.id)
      .zremrangebyscore(this.keys.workers, '-inf', now - 10 * this.opts.leaseMs)
      .exec();
  }

  private async claimTick(): Promise<void> {
    if (this.closed || this.ticking || this.redis.status !== 'ready') return;
    this.ticking = true;
    try {
      await this.claimOnce();
    } catch (err) {
      if (this.redis.status === 'ready') this.log.warn({ err }, 'stream assignment round failed');
    } finally {
      this.ticking = false;
    }
  }

  private async claimOnce(): Promise<void> {
    // A full (or paused) worker only checks its own streams: polling stays O(streams) per worker with room.
    const full = this.owned.size >= this.opts.capacity || Date.now() < this.pausedUntil;
    const names = full ? [] : await this.redis.smembers(this.keys.streams);
    for (const n of this.owned.keys()) if (!names.includes(n)) names.push(n);
    if (names.length === 0) return;
    const p = this.redis.pipeline();
    for (const n of names) p.hmget(this.keys.stream(n), 'node', 'startedAt').get(this.keys.lease(n));
    const rows = (await p.exec()) ?? [];
    const unowned: string[] = [];
    const now = Date.now();
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      const [node, sid] = (rows[2 * i]?.[1] as (string | null)[] | undefined) ?? [null, null];
      const lease = rows[2 * i + 1]?.[1] as string | null;
      const mine = this.owned.get(n);
      if (!node) {
        // The ingest node ended the stream (or died and stopped refreshing it).
        if (mine) {
          this.counters.ended++;
          await this.drop(n, 'stream ended', true);
          await this.redis.del(this.keys.progress(n));
        }
        await this.redis.multi().srem(this.keys.streams, n).del(this.keys.progress(n)).exec();
        this.unownedSince.delete(n);
        continue;
      }
      if (mine && mine.sid !== sid) {
        // A new session under the same name (or its ingest node restarted): start over with a fresh context.
        await this.drop(n, 'stream restarted', true);
        await this.redis.del(this.keys.progress(n));
        continue;
      }
      if (mine) {
        mine.node = node; // the ingest node may have restarted under a new id
        continue;
      }
      if (lease) {
        this.unownedSince.delete(n);
        continue;
      }
      if (!this.unownedSince.has(n)) this.unownedSince.set(n, now);
      unowned.push(n);
    }
    for (const n of this.unownedSince.keys()) if (!names.includes(n)) this.unownedSince.delete(n);
    if (unowned.length === 0 || this.owned.size >= this.opts.capacity || Date.now() < this.pausedUntil) return;
    unowned.sort((a, b) => this.unownedSince.get(a)! - this.unownedSince.get(b)!);
    const workers = await readWorkers(this.redis, this.keys, this.opts.leaseMs);
    const me = { id: this.id, capacity: this.opts.capacity, load: this.owned.size };
    const candidates = [...workers.filter((w) => w.id !== this.id), me].filter((w) => w.load < w.capacity);
    candidates.sort((a, b) => a.load / a.capacity - b.load / b.capacity || a.load - b.load || (a.id < b.id ? -1 : 1));
    const best = candidates[0]!;
    // The least-loaded worker takes it; anyone with room does when that one has not for 3 polls.
    const name = unowned.find((n) => best.id === this.id || now - this.unownedSince.get(n)! > 3 * this.opts.pollMs);
    if (!name) return;
    const [node, sid] = rows[2 * names.indexOf(name)]?.[1] as string[];
    await this.claim(name, node!, sid ?? '');
  }

  private async claim(name: string, node: string, sid: string): Promise<void> {
    const ok = await this.redis.set(this.keys.lease(name), this.id, 'PX', this.opts.leaseMs, 'NX');
    if (ok !== 'OK') return;
    if (this.closed) {
      await this.redis.leaseRelease(this.keys.lease(name), this.id).catch(() => {});
      return;
    }
    this.unownedSince.delete(name);
    const o = new OwnedStream(name, node, sid, this.ctx);
    this.owned.set(name, o);
    this.counters.claims++;
    await this.advertise().catch(() => {});
    try {
      await o.start();
      this.log.info({ stream: name, worker: this.id, node, rebuild: o.suppressUntilMs >= 0 }, o.suppressUntilMs >= 0 ? 'took over stream from a lost worker' : 'took stream');
    } catch (err) {
      if (!this.closed) this.log.error({ err, stream: name }, 'could not start stream; releasing it');
      await this.drop(name, 'start failed', true);
    }
  }

  private async drop(name: string, reason: string, release: boolean): Promise<void> {
    const o = this.owned.get(name);
    if (!o) return;
    this.owned.delete(name);
    if (reason === 'lease lost' || reason.startsWith('lease taken')) this.counters.lost++;
    this.log.info({ stream: name, worker: this.id, reason }, 'dropping stream');
    await o.stop();
    if (release) await within(this.redis.leaseRelease(this.keys.lease(name), this.id), 1000);
    if (!this.closed) await within(this.advertise(), 1000);
  }

  /** Graceful: gives every stream back at once (others take them within a poll), then leaves. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.unsubscribe();
    await Promise.all([...this.owned.keys()].map((n) => this.drop(n, 'worker closing', true)));
    await within(this.redis.multi().del(this.keys.worker(this.id)).zrem(this.keys.workers, this.id).exec(), 1000);
    await within(this.bull.quit(), 1000);
    this.bull.disconnect();
    await within(this.redis.quit(), 1000);
    this.redis.disconnect();
  }

  toJSON() {
    return { id: this.id, capacity: this.opts.capacity, load: this.owned.size, streams: [...this.owned.values()].map((o) => o.toJSON()), counters: this.counters };
  }
}
