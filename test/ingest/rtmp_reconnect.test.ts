import { afterAll, beforeAll, expect, it } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import type { Frame } from '../../src/frames.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { h264Fixture, publishFile } from '../helpers/ffmpeg.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestApp;
const key = testKey('rc');
const events: KibitzEvent[] = [];

beforeAll(async () => {
  h264Fixture(6);
  t = await startTestApp({ streams: [{ name: 'rc', key }], config: { ingest: { graceMs: 3000 } } });
  t.app.bus.subscribe((ev) => events.push(ev));
});
afterAll(async () => t?.close());

it('a reconnect within the grace period keeps the session and stream time; after it the session ends', async () => {
  const frames: Frame[] = [];
  const sessions: unknown[] = [];
  const off = t.app.onSession((s) => {
    sessions.push(s);
    void (async () => {
      for await (const f of s.frames()) frames.push(f);
    })();
  });
  const first = publishFile(t.url(key), h264Fixture(6), { extra: ['-t', '2.5'] });
  expect(await first.exited).toBe(0);
  await waitFor(() => t.app.sessions.get('rc')?.state === 'reconnecting', 'reconnecting');
  const before = frames.length;
  expect(before).toBeGreaterThanOrEqual(4);

  const second = publishFile(t.url(key), h264Fixture(6), { extra: ['-t', '2.5'] });
  await waitFor(() => t.app.sessions.get('rc')?.state === 'live', 'live again');
  expect(await second.exited).toBe(0);
  await waitFor(() => events.some((e) => e.status === 'ended'), 'ended after grace', 8000);

  const s = t.app.sessions.get('rc')!;
  expect(sessions).toHaveLength(1); // the same session object throughout
  expect(s.counters.reconnects).toBe(1);
  expect(frames.length).toBeGreaterThanOrEqual(before + 4);
  // Stream time continues from where the first publish stopped, on the 2 fps grid.
  frames.forEach((f, i) => {
    expect(f.seq).toBe(i);
    if (i > 0) expect(f.streamTimeMs - frames[i - 1]!.streamTimeMs).toBe(500);
  });
  expect(events.map((e) => e.status)).toEqual(['live', 'reconnecting', 'live', 'reconnecting', 'ended']);
  const ended = events.at(-1)!;
  expect(ended.streamTimeMs).toBe(frames.at(-1)!.streamTimeMs);

  // Persisted: the timeline has the same events.
  const tl = await (await fetch(`${t.httpBase}/api/streams/rc/timeline`)).json() as { events: KibitzEvent[] };
  expect(tl.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
  const since = await (await fetch(`${t.httpBase}/api/streams/rc/timeline?since=${ended.streamTimeMs}`)).json() as { events: KibitzEvent[] };
  expect(since.events.at(-1)!.status).toBe('ended');
  expect(since.events.every((e) => e.streamTimeMs >= ended.streamTimeMs)).toBe(true);
  off();
});

it('a publish after the session ended starts a new session at stream time 0', async () => {
  const got: Frame[] = [];
  const off = t.app.onSession((s) => {
    void (async () => {
      for await (const f of s.frames()) got.push(f);
    })();
  });
  const old = t.app.sessions.get('rc');
  const p = publishFile(t.url(key), h264Fixture(6), { extra: ['-t', '1.5'] });
  await waitFor(() => got.length > 0, 'frame of the new session');
  expect(t.app.sessions.get('rc')).not.toBe(old);
  expect(got[0]!.streamTimeMs).toBe(0);
  expect(got[0]!.seq).toBe(0);
  await p.exited;
  off();
});
