import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { redisQueueOptions } from '../../src/queue/redis/options.ts';
import { runWorker, type RunningWorker } from '../../src/model_host/worker.ts';
import { freePort } from '../helpers/net.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE, FakeHost, redisConfig, startIngestNode } from './helpers/host.ts';
import { RedisServer } from './helpers/redis.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

describe('Redis unreachable at start', () => {
  it('says which URL is unreachable, keeps ingest running, retries and connects once Redis is there', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'json', destination: { write: (s: string) => lines.push(s) } });
    const config = redisConfig(url, ['s0']);
    const host = new FakeHost(config, log);
    startIngestNode(host);
    cleanup.push(() => host.close());
    const worker: RunningWorker = await runWorker(config, { log, engine: ENGINE, queue: { workerId: 'w-late' } });
    cleanup.push(() => worker.close());
    const s0 = host.startStream('s0', 0);
    await waitFor(() => lines.some((l) => l.includes(`Redis at ${url} is unreachable (ECONNREFUSED); retrying`)), 'a clear error naming the URL');
    await waitFor(() => s0.counters.framesSampled >= 2, 'ingest keeps sampling');
    const redis = await RedisServer.start({ port });
    cleanup.push(() => redis.stop());
    await waitFor(() => host.eventsOf('s0', 'commentary').length > 0, 'commentary once Redis is up', 30_000);
    expect(lines.some((l) => l.includes(`Redis at ${url} is reachable again`))).toBe(true);
  });

  it('rejects a bad queue slice naming the key', () => {
    expect(() => redisQueueOptions({ queue: { kind: 'redis', url: 'redis://x', capacity: 0 } as never })).toThrow(/^queue\.capacity: /);
    expect(() => redisQueueOptions({ queue: { kind: 'redis', url: 'http://x' } as never })).toThrow(/queue\.url: must start with redis:\/\//);
  });
});
