import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';

// The workers as their heartbeat hashes show them: written by worker_node.ts, read by workers
// (placement) and by ingest nodes (ask routing, status), so neither side imports the other.

export interface WorkerInfo {
  id: string;
  capacity: number;
  load: number;
  streams: string[];
  /** ms since its last heartbeat. */
  ageMs: number;
}

/** Live workers (heartbeat within the lease), from their heartbeat hashes. */
export async function readWorkers(redis: Redis, keys: Keys, leaseMs: number): Promise<WorkerInfo[]> {
  const now = Date.now();
  const ids = await redis.zrangebyscore(keys.workers, now - leaseMs, '+inf');
  if (ids.length === 0) return [];
  const p = redis.pipeline();
  for (const id of ids) p.hmget(keys.worker(id), 'capacity', 'load', 'streams', 'beat');
  const rows = (await p.exec()) ?? [];
  const out: WorkerInfo[] = [];
  ids.forEach((id, i) => {
    const [err, v] = rows[i] ?? [];
    const [cap, load, streams, beat] = (err ? [] : (v as (string | null)[])) ?? [];
    if (cap == null) return; // hash expired: the worker is gone
    out.push({ id, capacity: Number(cap), load: Number(load ?? 0), streams: streams ? streams.split(',').filter(Boolean) : [], ageMs: now - Number(beat ?? 0) });
  });
  return out;
}
