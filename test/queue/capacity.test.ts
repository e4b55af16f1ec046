import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import type { IngestNode } from '../../src/queue/redis/ingest_node.ts';
import { runWorker, type RunningWorker } from '../../src/model_host/worker.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { ENGINE, FakeHost, redisConfig, testLog, startIngestNode } from './helpers/host.ts';
import { RedisServer } from './helpers/redis.ts';

let redis: RedisServer;
let host: FakeHost;
let ingest: IngestNode;
const workers: RunningWorker[] = [];
const lines: string[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  const config = redisConfig(redis.url, ['s0', 's1'], { leaseMs: 1000, pollMs: 100 });
  workers.push(await runWorker(config, { log: testLog(), engine: ENGINE, queue: { workerId: 'w-one', capacity: 1 } }));
  host = new FakeHost(config, createLogger({ level: 'warn', format: 'json', destination: { write: (s: string) => lines.push(s) } }));
  ingest = startIngestNode(host);
});
afterAll(async () => {
  await host?.close();
  for (const w of workers) await w.close();
  await redis?.stop();
});

describe('capacity', () => {
  it('a full worker is given no more streams; the operator is told why; a new worker takes the rest', async () => {
    host.startStream('s0', 0);
    await waitFor(async () => (await ingest.refresh()).streams.find((s) => s.name === 's0')?.owner === 'w-one', 's0 on w-one');
    host.startStream('s1', 1);
    await waitFor(() => lines.some((l) => l.includes('stream s1 has no model worker: all 1 workers are at capacity (w-one 1/1)')), 'the capacity warning', 15_000);
    const st = await ingest.refresh();
    expect(st.streams.find((s) => s.name === 's1')?.owner).toBeNull();
    expect(st.workers).toMatchObject([{ id: 'w-one', capacity: 1, load: 1 }]);
    workers.push(await runWorker(host.config, { log: testLog(), engine: ENGINE, queue: { workerId: 'w-two', capacity: 1 } }));
    await waitFor(async () => (await ingest.refresh()).streams.find((s) => s.name === 's1')?.owner === 'w-two', 's1 on w-two', 30_000);
    await sleep(500);
    expect(workers[0]!.node.streams).toEqual(['s0']);
  });
});
