import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { readWorkers, type WorkerInfo } from './workers.ts';

/** One stream as the cluster sees it (for /api/streams items and /metrics). */
export interface StreamQueueInfo {
  name: string;
  /** Worker id holding the lease, null while none does (starting, failing over, no workers). */
  owner: string | null;
  /** Frames this node sent to Redis that the owner has not handed to its model yet. */
  lagFrames: number | null;
  /** Stream time between the newest frame sent and the newest the owner handed to its model. */
  lagMs: number | null;
  /** The owner's last decode -> decision latency, ms: how far behind live the commentary is. */
  decisionLatencyMs: number | null;
  framesSent: number;
}

export interface QueueStatus {
  node: string;
  /** ioredis status of the command connection: "ready", "connecting", "reconnecting", ... */
  redis: string;
  workers: WorkerInfo[];
  streams: StreamQueueInfo[];
  usedMemoryBytes: number | null;
  /** Wall ms of this snapshot. */
  at: number;
}

export async function readStatus(
  redis: Redis, keys: Keys, leaseMs: number, node: string, live: string[],
  local: Map<string, { sent: number; lastSeq: number; lastMs: number }>,
): Promise<QueueStatus> {
  const workers = await readWorkers(redis, keys, leaseMs);
  const p = redis.pipeline();
  for (const n of live) p.get(keys.lease(n)).hmget(keys.progress(n), 'seq', 'ms', 'lat');
  p.info('memory');
  const rows = (await p.exec()) ?? [];
  const streams = live.map((name, i): StreamQueueInfo => {
    const owner = (rows[2 * i]?.[1] as string | null) ?? null;
    const [seq, ms, lat] = (rows[2 * i + 1]?.[1] as (string | null)[] | undefined) ?? [];
    const l = local.get(name);
    const has = seq != null && owner != null;
    return {
      name, owner,
      lagFrames: has && l ? Math.max(0, l.lastSeq - Number(seq)) : null,
      lagMs: has && l ? Math.max(0, l.lastMs - Number(ms)) : null,
      decisionLatencyMs: lat != null ? Number(lat) : null,
      framesSent: l?.sent ?? 0,
    };
  });
  const info = rows[rows.length - 1]?.[1] as string | undefined;
  const used = info?.match(/used_memory:(\d+)/)?.[1];
  return { node, redis: redis.status, workers, streams, usedMemoryBytes: used ? Number(used) : null, at: Date.now() };
}
