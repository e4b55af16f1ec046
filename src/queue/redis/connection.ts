import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../log.ts';
import { safeUrl } from './options.ts';

export interface ConnectOptions {
  log: Logger;
  /** Shown in CLIENT LIST and in messages ("ingest-frames", "worker-cmd"). */
  name: string;
  /**
   * false: commands fail at once while disconnected instead of queueing without bound in the
   * client (ingest frames, which have their own bounded buffer).
   */
  offlineQueue?: boolean;
}

/** Retry forever with a capped backoff; ioredis reconnects and resends what it queued. */
export const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times, 5), 2000);

/** ioredis options every kibitz connection uses (BullMQ needs maxRetriesPerRequest: null). */
export function redisOptions(name: string, offlineQueue = true): RedisOptions {
  return {
    maxRetriesPerRequest: null,
    enableOfflineQueue: offlineQueue,
    retryStrategy,
    connectionName: name,
    // A restarted Redis loads its AOF before answering; wait for it rather than failing commands.
    enableReadyCheck: true,
  };
}

/**
 * A connection that retries forever and says clearly, once per outage, which URL is
 * unreachable (the password is never printed).
 */
export function connectRedis(url: string, opts: ConnectOptions): Redis {
  const r = new Redis(url, redisOptions(opts.name, opts.offlineQueue ?? true));
  watchConnection(r, url, opts.log, opts.name);
  return r;
}

export function watchConnection(r: Redis, url: string, log: Logger, name: string): void {
  let down = false;
  let lastLog = 0;
  r.on('error', (err: NodeJS.ErrnoException) => {
    const now = Date.now();
    if (!down || now - lastLog > 30_000) {
      log.error({ conn: name }, `Redis at ${safeUrl(url)} is unreachable (${err.code ?? err.message}); retrying`);
      lastLog = now;
    }
    down = true;
  });
  r.on('ready', () => {
    if (down) log.info({ conn: name }, `Redis at ${safeUrl(url)} is reachable again`);
    down = false;
  });
}

/** Resolves when `r` is ready, or when `signal` aborts (false). */
export function whenReady(r: Redis, signal?: AbortSignal): Promise<boolean> {
  if (r.status === 'ready') return Promise.resolve(true);
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      r.off('ready', onReady);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onReady = () => done(true);
    const onAbort = () => done(false);
    r.on('ready', onReady);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `p`, or undefined after `ms` (teardown must not wait for a Redis that is away). */
export function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => {
    t = setTimeout(() => r(undefined), ms);
  })]).finally(() => clearTimeout(t));
}
