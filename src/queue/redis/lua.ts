import type { Redis } from 'ioredis';

/** Atomic lease and publish steps; one definition per script, registered on each connection. */
const SCRIPTS = {
  /** KEYS lease; ARGV worker, ms. Keeps our lease, or takes it back if it lapsed unowned (Redis restart). 1 = ours. */
  leaseRenew: {
    numberOfKeys: 1,
    lua: `local v = redis.call('get', KEYS[1])
if v == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`,
  },
  /** KEYS lease; ARGV worker. Compare-and-delete. */
  leaseRelease: {
    numberOfKeys: 1,
    lua: `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`,
  },
  /** KEYS lease, node events; ARGV worker, maxlen, event JSON. Publishes only while the lease is ours (fencing). */
  publishFenced: {
    numberOfKeys: 2,
    lua: `if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('xadd', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'k', 'event', 'e', ARGV[3])
return 1`,
  },
  /**
   * KEYS answered marker, node events; ARGV question id, result JSON, ttl s, maxlen.
   * The first result for a question id is stored and published; later ones get the stored result back.
   */
  answerOnce: {
    numberOfKeys: 2,
    lua: `local prev = redis.call('get', KEYS[1])
if prev then return prev end
redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('xadd', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'k', 'result', 'q', ARGV[1], 'r', ARGV[2])
return false`,
  },
} as const;

export interface ScriptedRedis extends Redis {
  leaseRenew(lease: string, worker: string, ms: number): Promise<number>;
  leaseRelease(lease: string, worker: string): Promise<number>;
  publishFenced(lease: string, events: string, worker: string, maxlen: number, event: string): Promise<number>;
  answerOnce(marker: string, events: string, id: string, result: string, ttlS: number, maxlen: number): Promise<string | null>;
}

export function withScripts(r: Redis): ScriptedRedis {
  for (const [name, s] of Object.entries(SCRIPTS)) {
    if (!(name in r)) r.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  }
  return r as ScriptedRedis;
}
