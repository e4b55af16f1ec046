import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnswerResult } from '../../src/brain.ts';
import type { IngestNode } from '../../src/queue/redis/ingest_node.ts';
import { runWorker, type RunningWorker } from '../../src/model_host/worker.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { ENGINE, FakeHost, redisConfig, startIngestNode } from './helpers/host.ts';
import { RedisServer } from './helpers/redis.ts';

const STREAMS = ['s0', 's1'];
let redis: RedisServer;
let host: FakeHost;
let ingest: IngestNode;
let worker: RunningWorker;
const answering: string[] = [];

beforeAll(async () => {
  redis = await RedisServer.start({ persist: true });
  const config = redisConfig(redis.url, STREAMS, {}, { ingest: { frameQueueCapacity: 2 } });
  worker = await runWorker(config, {
    engine: ENGINE, queue: { workerId: 'w-a' },
    hooks: {
      async beforeAnswer(job) {
        answering.push(job.id);
        if (job.question?.includes('slow')) await sleep(1000);
      },
    },
  });
  host = new FakeHost(config);
  ingest = startIngestNode(host);
  STREAMS.forEach((s, i) => host.startStream(s, i));
  await waitFor(() => STREAMS.every((s) => host.eventsOf(s, 'commentary').length >= 1), 'commentary before the restart', 30_000);
});

afterAll(async () => {
  await host?.close();
  await worker?.close();
  await redis?.stop();
});

describe('Redis restarts mid-stream (AOF, fsync always)', () => {
  it('ingest keeps running with bounded buffering, everything reconnects, no acknowledged question is lost', async () => {
    const s0 = host.sessions.get('s0')!;
    // Acknowledged (queued in Redis) and being answered when Redis goes away.
    const acked = host.brain!.ask({ stream: 's0', question: 'slow: what did you see?', id: 'q-acked' });
    await waitFor(() => answering.includes('q-acked'), 'the worker is answering q-acked', 20_000);
    await redis.kill('SIGKILL');
    const tDown = Date.now();
    const dropsBefore = s0.counters.framesDropped;
    // Asked while Redis is down: waits for it (within the ask timeout).
    const during = host.brain!.ask({ stream: 's1', question: 'asked during the outage', id: 'q-during' });
    const results: Record<string, AnswerResult | Error> = {};
    void acked.then((r) => (results.acked = r), (e: Error) => (results.acked = e));
    void during.then((r) => (results.during = r), (e: Error) => (results.during = e));
    await sleep(5000);
    // Ingest never blocked: frames kept coming, the oldest were dropped, the buffer stayed bounded.
    expect(s0.counters.framesSampled).toBeGreaterThan(0);
    expect(s0.queuedFrames).toBeLessThanOrEqual(host.config.ingest.frameQueueCapacity);
    expect(s0.counters.framesDropped).toBeGreaterThan(dropsBefore);
    expect(ingest.status().redis).not.toBe('ready');
    await redis.spawn();
    const tUp = Date.now();
    const a = await acked;
    const d = await during;
    expect(a.event.id).toBe('a-q-acked');
    expect(d.event.id).toBe('a-q-during');
    await waitFor(() => STREAMS.every((s) => host.eventsOf(s, 'commentary').some((e) => Date.parse(e.wallTime) > tUp)), 'commentary after the restart', 30_000);
    await sleep(1000);
    expect(host.events.filter((e) => e.id === 'a-q-acked')).toHaveLength(1);
    expect(host.events.filter((e) => e.id === 'a-q-during')).toHaveLength(1);
    const ids = host.events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const st = await ingest.refresh();
    expect(st.redis).toBe('ready');
    expect(st.streams.map((s) => s.owner)).toEqual(['w-a', 'w-a']);
    // eslint-disable-next-line no-console
    console.log(`redis down ${tUp - tDown} ms; recovered; used_memory ${(st.usedMemoryBytes! / 1048576).toFixed(1)} MiB`);
  });
});
