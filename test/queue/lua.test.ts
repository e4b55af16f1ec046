import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withScripts, type ScriptedRedis } from '../../src/queue/redis/lua.ts';
import { RedisServer } from './helpers/redis.ts';

let srv: RedisServer;
let r: ScriptedRedis;
beforeAll(async () => {
  srv = await RedisServer.start();
  r = withScripts(new Redis(srv.url));
});
afterAll(async () => {
  r?.disconnect();
  await srv?.stop();
});

describe('lease and publish scripts', () => {
  it('renews only its own lease, takes back a lapsed one, and releases only its own', async () => {
    expect(await r.set('L', 'w1', 'PX', 1000, 'NX')).toBe('OK');
    expect(await r.set('L', 'w2', 'PX', 1000, 'NX')).toBeNull();
    expect(await r.leaseRenew('L', 'w2', 1000)).toBe(0);
    expect(await r.leaseRenew('L', 'w1', 5000)).toBe(1);
    expect(await r.pttl('L')).toBeGreaterThan(4000);
    expect(await r.leaseRelease('L', 'w2')).toBe(0);
    expect(await r.get('L')).toBe('w1');
    expect(await r.leaseRelease('L', 'w1')).toBe(1);
    expect(await r.leaseRenew('L', 'w2', 1000)).toBe(1); // lapsed and unowned: taken back (after a Redis restart)
    expect(await r.get('L')).toBe('w2');
  });

  it('publishes commentary only while holding the lease (fencing)', async () => {
    await r.set('L2', 'w1', 'PX', 5000);
    expect(await r.publishFenced('L2', 'E', 'w1', 100, '{"a":1}')).toBe(1);
    expect(await r.publishFenced('L2', 'E', 'w2', 100, '{"a":2}')).toBe(0);
    expect(await r.xlen('E')).toBe(1);
  });

  it('stores and publishes the first result for a question id only', async () => {
    expect(await r.answerOnce('A:q1', 'E2', 'q1', '{"first":true}', 60, 100)).toBeNull();
    expect(await r.answerOnce('A:q1', 'E2', 'q1', '{"first":false}', 60, 100)).toBe('{"first":true}');
    const entries = await r.xrange('E2', '-', '+');
    expect(entries).toHaveLength(1);
    expect(entries[0]![1]).toEqual(['k', 'result', 'q', 'q1', 'r', '{"first":true}']);
  });
});
