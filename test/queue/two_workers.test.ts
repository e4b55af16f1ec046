import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../../src/frames.ts';
import type { IngestNode } from '../../src/queue/redis/ingest_node.ts';
import { runWorker, type RunningWorker } from '../../src/model_host/worker.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { ENGINE, FakeHost, FPS, redisConfig, startIngestNode } from './helpers/host.ts';
import { RedisServer } from './helpers/redis.ts';

const STREAMS = ['s0', 's1', 's2', 's3'];
let redis: RedisServer;
let host: FakeHost;
let ingest: IngestNode;
const workers: RunningWorker[] = [];
/** worker id -> stream -> seqs seen, in arrival order. */
const seen = new Map<string, Map<string, number[]>>();

beforeAll(async () => {
  redis = await RedisServer.start();
  const config = redisConfig(redis.url, STREAMS);
  for (const id of ['w-a', 'w-b']) {
    const m = new Map<string, number[]>();
    seen.set(id, m);
    workers.push(await runWorker(config, {
      engine: ENGINE, queue: { workerId: id, capacity: 2 },
      hooks: { onFrame: (s: string, f: Frame) => (m.get(s) ?? m.set(s, []).get(s)!).push(f.seq) },
    }));
  }
  host = new FakeHost(config);
  ingest = startIngestNode(host);
  await waitFor(async () => (await ingest.refresh()).workers.length === 2, 'two workers advertised');
  STREAMS.forEach((s, i) => host.startStream(s, i));
});

afterAll(async () => {
  await host?.close();
  for (const w of workers) await w.close();
  await redis?.stop();
});

describe('two workers, four streams', () => {
  it('each stream has exactly one owner, spread by load, and every stream gets commentary', async () => {
    await waitFor(() => STREAMS.every((s) => host.eventsOf(s, 'commentary').length >= 1), 'commentary on every stream', 60_000);
    const st = await ingest.refresh();
    const owners = st.streams.map((s) => s.owner);
    expect(owners.every((o) => o === 'w-a' || o === 'w-b')).toBe(true);
    // Exclusive: the workers' own views agree with the leases and do not overlap.
    const a = workers[0]!.node.streams;
    const b = workers[1]!.node.streams;
    expect(a.filter((s) => b.includes(s))).toEqual([]);
    expect([...a, ...b].sort()).toEqual(STREAMS);
    expect(a.length).toBe(2);
    expect(b.length).toBe(2);
    for (const s of st.streams) expect(workers.find((w) => w.id === s.owner)!.node.streams).toContain(s.name);
    expect(st.workers.map((w) => [w.id, w.capacity, w.load]).sort()).toEqual([['w-a', 2, 2], ['w-b', 2, 2]]);
  });

  it('frames reach the owner in order, and only the owner', async () => {
    const count = (s: string) => [...seen.values()].reduce((a, m) => a + (m.get(s)?.length ?? 0), 0);
    await waitFor(() => STREAMS.every((s) => count(s) >= 4), 'four frames per stream at the owners', 30_000);
    for (const s of STREAMS) {
      const byWorker = [...seen.entries()].filter(([, m]) => (m.get(s)?.length ?? 0) > 0);
      expect(byWorker.length).toBe(1);
      const seqs = byWorker[0]![1].get(s)!;
      expect(seqs.length).toBeGreaterThan(3);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    }
    for (const w of workers) for (const o of w.node.toJSON().streams) expect(o.outOfOrder).toBe(0);
  });

  it('answers a question once, through the owner, and dedupes a repeated id', async () => {
    const r = await host.brain!.ask({ stream: 's2', question: 'what is happening?', user: 'alice', id: 'q-1' });
    expect(r.event.kind).toBe('answer');
    expect(r.event.id).toBe('a-q-1');
    const again = await host.brain!.ask({ stream: 's2', question: 'what is happening?', user: 'alice', id: 'q-1' });
    expect(again.answer).toBe(r.answer);
    await sleep(300);
    expect(host.events.filter((e) => e.id === 'a-q-1')).toHaveLength(1);
    const sum = await host.brain!.summary('s1', 5);
    // the summary the asker got is the one event published for it
    const published = host.eventsOf('s1', 'summary');
    expect(published).toHaveLength(1);
    expect(published[0]!.text).toBe(sum.summary);
  });

  it('shows owner and lag per stream, and capacity and load per worker, in /metrics', async () => {
    const text = await host.metrics.registry.metrics();
    expect(text).toMatch(/kibitz_queue_stream_owner\{stream="s0",worker="w-[ab]"\} 1/);
    expect(text).toMatch(/kibitz_queue_worker_capacity\{worker="w-a"\} 2/);
    expect(text).toMatch(/kibitz_queue_stream_lag_frames\{stream="s3"\} \d+/);
    const info = (await ingest.refresh()).streams.find((s) => s.name === 's0')!;
    expect(info.owner).toMatch(/^w-[ab]$/);
    expect(info.lagFrames).not.toBeNull();
    // frames are 1000/FPS ms of stream time apart: the lag in frames and in stream time agree
    expect(info.lagMs).toBe((info.lagFrames! * 1000) / FPS);
    // the owner keeps up with a 1-fps stream: never more than its backlog (it skips the oldest beyond it) and the frame in flight
    expect(info.lagFrames!).toBeLessThanOrEqual(ingest.opts.maxBacklog + 1);
  });

  it('never publishes the same event twice, and an ended stream is let go', async () => {
    const ids = host.events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    host.endStream('s3');
    await waitFor(() => !workers.some((w) => w.node.streams.includes('s3')), 'owner lets s3 go', 10_000);
  });
});

describe('a stream restarts under the same name', () => {
  it('starts over with a fresh context and frames from seq 0, even when it comes back at once', async () => {
    host.startStream('s3', 3);
    await waitFor(() => workers.some((w) => w.node.streams.includes('s3')), 's3 owned again', 15_000);
    await waitFor(() => workers.some((w) => (w.node.owner('s3')?.framesIn ?? 0) >= 2), 's3 frames flowing', 15_000);
    const t = Date.now();
    host.endStream('s3');
    host.startStream('s3', 3); // within one poll: the worker sees a new session id, not an end
    await waitFor(() => host.eventsOf('s3', 'commentary').some((e) => Date.parse(e.wallTime) > t + 200 && e.streamTimeMs < 3000), 'commentary on the new s3', 30_000);
    const o = workers.map((w) => w.node.owner('s3')).find(Boolean)!;
    expect(o.outOfOrder).toBe(0);
    expect(o.lastSeq).toBeLessThan(20);
  });
});
