import { hostname } from 'node:os';
import { z } from 'zod';
import { ConfigError } from '../../config/errors.ts';
import type { Config } from '../../config/schema.ts';

const num = () => z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v), z.number());
const SAFE = /^[A-Za-z0-9_.-]+$/;

/**
 * The Redis slice of `queue:` (the shared schema keeps unknown queue keys; this validates them).
 * Times are milliseconds.
 */
export const redisQueueSchema = z.object({
  kind: z.literal('redis'),
  /** redis://[:password@]host:port[/db] */
  url: z.string().min(1).regex(/^rediss?:\/\//, 'must start with redis:// or rediss://'),
  /** Namespace of every key kibitz writes (several deployments can share one Redis). */
  prefix: z.string().min(1).max(32).regex(SAFE).default('kibitz'),
  /** This process's id as an ingest node / worker; generated (host-pid-random) when absent. */
  nodeId: z.string().min(1).max(64).regex(SAFE).optional(),
  workerId: z.string().min(1).max(64).regex(SAFE).optional(),
  /** Streams this worker runs in real time; it takes no more. */
  capacity: num().pipe(z.number().int().min(1).max(256)).default(4),
  /** Stream lease (and worker heartbeat) lifetime; renewed every leaseMs/3. A dead worker's streams move within leaseMs + pollMs. */
  leaseMs: num().pipe(z.number().int().min(1000).max(60_000)).default(5000),
  /** How often workers look for streams without an owner. */
  pollMs: num().pipe(z.number().int().min(50).max(10_000)).default(500),
  /** Frames kept per stream in Redis (exact MAXLEN): bounds Redis memory to about N x frame bytes per stream. */
  framesMaxLen: num().pipe(z.number().int().min(2).max(1000)).default(16),
  /** Frames a new owner replays from the per-stream buffer to rebuild context. */
  replayFrames: num().pipe(z.number().int().min(0).max(64)).default(4),
  /** Frames a worker may fall behind before it skips the oldest. */
  maxBacklog: num().pipe(z.number().int().min(1).max(1000)).default(4),
  /** Ask/summary round trip limit on the ingest node (covers one failover). */
  askTimeoutMs: num().pipe(z.number().int().min(100).max(600_000)).default(30_000),
}).loose();

export type RedisQueueOptions = z.output<typeof redisQueueSchema>;

/** Validates `config.queue` for the Redis path; throws a ConfigError naming the key (the CLI exits 2). */
export function redisQueueOptions(config: Pick<Config, 'queue'>, overrides: Partial<RedisQueueOptions> = {}): RedisQueueOptions {
  const r = redisQueueSchema.safeParse({ ...config.queue, ...overrides });
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`queue.${i.path.join('.')}`, i.message);
  }
  return r.data;
}

export function defaultNodeId(role: 'ingest' | 'worker'): string {
  return `${role}-${hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32)}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
