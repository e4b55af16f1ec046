import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestNode } from '../../src/queue/redis/ingest_node.ts';
import { runWorker, type RunningWorker } from '../../src/model_host/worker.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE, FakeHost, redisConfig, startIngestNode } from './helpers/host.ts';
import { RedisServer } from './helpers/redis.ts';

let redis: RedisServer;
let host: FakeHost;
let ingest: IngestNode;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  const config = redisConfig(redis.url, ['s0'], { leaseMs: 1000, pollMs: 100 });
  workers.push(await runWorker(config, { engine: ENGINE, queue: { workerId: 'w-stuck' } }));
  host = new FakeHost(config);
  ingest = startIngestNode(host);
  host.startStream('s0', 0, 2);
  await waitFor(async () => (await ingest.refresh()).streams[0]?.owner === 'w-stuck', 's0 on w-stuck', 15_000);
});
afterAll(async () => {
  await host?.close();
  for (const w of workers) await w.close();
  await redis?.stop();
});

describe('a worker whose model is stuck while its event loop (and lease) lives on', () => {
  it('gives the stream up and another worker takes it', async () => {
    workers.push(await runWorker(host.config, { engine: ENGINE, queue: { workerId: 'w-ok' } }));
    await waitFor(async () => (await ingest.refresh()).workers.length === 2, 'w-ok advertised', 15_000);
    workers[0]!.engine.offer = () => {}; // the model takes no more frames
    const t = Date.now();
    await waitFor(async () => (await ingest.refresh()).streams[0]?.owner === 'w-ok', 's0 moved to w-ok', 20_000, 100);
    expect(Date.now() - t).toBeLessThan(3 * 1000 + 5000);
    await waitFor(() => host.eventsOf('s0', 'commentary').some((e) => Date.parse(e.wallTime) > t), 'commentary from w-ok', 20_000);
  });
});
