import { z } from 'zod';
import { num } from '../config_values.ts';

/**
 * The `queue:` slice of the kibitz config: where frames go to the model. Embedded in the config
 * schema (schema.ts), so a bad Redis option stops `kibitz serve` / `kibitz worker` at load with
 * the key named. Times are milliseconds.
 */
const SAFE = /^[A-Za-z0-9_.-]+$/;

export const embeddedQueueSchema = z.object({ kind: z.literal('embedded') }).loose();

export const redisQueueSchema = z.object({
  kind: z.literal('redis'),
  /** redis://[:password@]host:port[/db] */
  url: z.string({ error: 'kind "redis" needs a url (redis://host:6379)' }).min(1).regex(/^rediss?:\/\//, 'must start with redis:// or rediss://'),
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
}).strict();

/** `kind` defaults to embedded; each kind validates its own keys. */
export const queueSchema = z.preprocess(
  (v) => (v === undefined ? { kind: 'embedded' } : typeof v === 'object' && v !== null && !('kind' in v) ? { kind: 'embedded', ...v } : v),
  z.discriminatedUnion('kind', [embeddedQueueSchema, redisQueueSchema], { error: 'kind must be "embedded" or "redis"' }),
);

export type RedisQueueOptions = z.output<typeof redisQueueSchema>;
