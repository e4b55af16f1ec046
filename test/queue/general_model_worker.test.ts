import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import { remoteModelHost } from '../../src/model_host/remote.ts';
import type { IngestNode } from '../../src/queue/redis/ingest_node.ts';
import { runWorker, type RunningWorker } from '../../src/model_host/worker.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { publishFile } from '../helpers/ffmpeg.ts';
import { buildTinyVideoLlm } from '../helpers/tiny_videollm.ts';
import { waitFor } from '../helpers/wait.ts';
import { RedisServer } from './helpers/redis.ts';

/**
 * An imported general model (tiny random VideoLLM-online checkpoint) served by a Redis worker:
 * the ingest node decodes with the package's 96x96 bicubic frame, the worker runs the same engine,
 * commentary and a free-form answer come back to the app. Nothing in the queue knows the model's kind.
 */
describe('a general model on a Redis worker', () => {
  let redis: RedisServer;
  let t: TestApp;
  let ingest: IngestNode;
  let worker: RunningWorker;
  const events: KibitzEvent[] = [];
  const key = testKey('general');

  beforeAll(async () => {
    const { pkg } = buildTinyVideoLlm({ seed: 5 });
    redis = await RedisServer.start();
    const modelHost = remoteModelHost();
    t = await startTestApp({
      streams: [{ name: 'main', key }],
      config: { model: { package: pkg }, queue: { kind: 'redis', url: redis.url, leaseMs: 2000, pollMs: 200 } },
      app: { modelHost },
    });
    t.app.bus.subscribe((ev) => events.push(ev));
    ingest = modelHost.ingest!;
    // a random model rarely chooses eos: a cap under the guards' limit ends its lines
    worker = await runWorker(t.app.config, { engine: { maxResponseTokens: 6 }, queue: { workerId: 'w-general' } });
  }, 300_000);
  afterAll(async () => {
    await t?.close();
    await worker?.close();
    await redis?.stop();
  });

  it('commentary and a free-form answer come back from the worker', async () => {
    expect(t.app.config.decode).toMatchObject({ width: 96, height: 96, scaler: 'bicubic' });
    const pub = publishFile(t.url(key), 'models/samples/broadcast1.mp4', { loop: true });
    try {
      await waitFor(() => events.some((e) => e.kind === 'commentary' && e.stream === 'main'), 'commentary on main', 30_000);
      await ingest.refresh();
      expect(ingest.streamInfo('main')?.owner).toBe('w-general');
      const res = await fetch(`${t.httpBase}/api/streams/main/ask`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'Who is on screen right now?', user: 'dana' }),
      });
      expect(res.status).toBe(200);
      const body = await res.json() as { answer: string };
      expect(body.answer.length).toBeGreaterThan(0);
      const answer = events.find((e) => e.kind === 'answer');
      expect(answer?.question).toBe('Who is on screen right now?');
    } finally {
      await pub.stop();
    }
  }, 90_000);
});
