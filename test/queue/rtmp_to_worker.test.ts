import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import { remoteModelHost } from '../../src/model_host/remote.ts';
import type { IngestNode } from '../../src/queue/redis/ingest_node.ts';
import { runWorker, type RunningWorker } from '../../src/model_host/worker.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { publishFile } from '../helpers/ffmpeg.ts';
import { waitFor } from '../helpers/wait.ts';
import { ENGINE, PKG } from './helpers/host.ts';
import { RedisServer } from './helpers/redis.ts';

describe('the real app as an ingest node: RTMP -> ffmpeg -> Redis -> worker -> app bus', () => {
  let redis: RedisServer;
  let t: TestApp;
  let ingest: IngestNode;
  let worker: RunningWorker;
  const events: KibitzEvent[] = [];
  const key = testKey('main');

  beforeAll(async () => {
    redis = await RedisServer.start();
    const modelHost = remoteModelHost();
    t = await startTestApp({
      streams: [{ name: 'main', key }],
      config: { model: { package: PKG, threshold: 1.0 }, queue: { kind: 'redis', url: redis.url, leaseMs: 2000, pollMs: 200 } },
      app: { modelHost },
    });
    t.app.bus.subscribe((ev) => events.push(ev));
    ingest = modelHost.ingest!;
    worker = await runWorker(t.app.config, { engine: ENGINE, queue: { workerId: 'w-rtmp' } });
  });
  afterAll(async () => {
    await t?.close();
    await worker?.close();
    await redis?.stop();
  });

  it('commentary from the worker reaches the app; /metrics shows the owner; ask over HTTP is answered', async () => {
    // the model's own world (a held-out sample): on anything else it rightly stays silent
    const pub = publishFile(t.url(key), 'models/samples/broadcast1.mp4', { loop: true });
    try {
      await waitFor(() => events.some((e) => e.kind === 'commentary' && e.stream === 'main'), 'commentary on main', 30_000);
      await ingest.refresh();
      expect(ingest.streamInfo('main')?.owner).toBe('w-rtmp');
      const metrics = await (await fetch(`${t.httpBase}/metrics`)).text();
      expect(metrics).toContain('kibitz_queue_stream_owner{stream="main",worker="w-rtmp"} 1');
      const res = await fetch(`${t.httpBase}/api/streams/main/ask`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'what is this?', user: 'carol' }),
      });
      expect(res.status).toBe(200);
      const body = await res.json() as { answer: string; t: number };
      expect(typeof body.answer).toBe('string');
      expect(events.filter((e) => e.kind === 'answer')).toHaveLength(1);
    } finally {
      await pub.stop();
    }
  });
});
