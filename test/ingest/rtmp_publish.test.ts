import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import type { Frame } from '../../src/frames.ts';
import { h264Fixture, publishFile } from '../helpers/ffmpeg.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { waitFor } from '../helpers/wait.ts';

describe('RTMP publish of 720p30 H.264 with B-frames', () => {
  let t: TestApp;
  const key = testKey('main');
  const events: KibitzEvent[] = [];
  let fixture: string;

  beforeAll(async () => {
    fixture = h264Fixture(6);
    t = await startTestApp({ streams: [{ name: 'main', key }, { name: 'other', key: testKey('other') }] });
    t.app.bus.subscribe((ev) => events.push(ev));
  });
  afterAll(async () => t?.close());

  it('samples letterboxed RGB frames at 2 fps stamped with media time, and ends after the grace period', async () => {
    const frames: Frame[] = [];
    const consumer = new AbortController();
    let liveAt = 0;
    const off = t.app.bus.subscribe((e) => {
      if (e.status === 'live' && !liveAt) liveAt = performance.now();
    }, { stream: 'main' });
    t.app.onSession((s) => {
      void (async () => {
        for await (const f of s.frames(consumer.signal)) frames.push(f);
      })();
    });
    const pub = publishFile(t.url(key), fixture);
    await waitFor(() => frames.length > 0, 'first frame', 8000);
    // From the publish being accepted (the publisher ffmpeg's own start-up is OBS's business).
    const firstFrameMs = performance.now() - liveAt;
    off();
    expect(firstFrameMs).toBeLessThan(1500); // issue 2: < 1.5 s with a 2 s keyframe interval
    const listed = await (await fetch(`${t.httpBase}/api/streams`)).json() as { streams: { name: string; state: string; framesSampled: number; framesDecoded: number }[] };
    expect(listed.streams.find((s) => s.name === 'main')?.state).toBe('live');
    expect(await pub.exited).toBe(0);
    await waitFor(() => events.some((e) => e.status === 'ended'), 'ended event', 8000);
    consumer.abort();

    // 6 s of media at 2 fps: 12 frames (the fps filter may round the edges by one).
    expect(frames.length).toBeGreaterThanOrEqual(11);
    expect(frames.length).toBeLessThanOrEqual(13);
    frames.forEach((f, i) => {
      expect(f.seq).toBe(i);
      expect(f.width).toBe(192);
      expect(f.height).toBe(108);
      expect(f.data.length).toBe(192 * 108 * 3);
      expect(f.streamTimeMs).toBe(i * 500);
    });
    // 16:9 into 192x108 needs no bars; the picture is not black.
    const mid = frames[3]!.data;
    expect(mid.reduce((a, b) => a + b, 0) / mid.length).toBeGreaterThan(20);

    const s = t.app.sessions.get('main')!;
    expect(s.state).toBe('ended');
    expect(s.counters.framesSampled).toBe(frames.length);
    expect(s.counters.framesDecoded).toBe(180);
    expect(events.filter((e) => e.stream === 'main').map((e) => e.status)).toEqual(['live', 'reconnecting', 'ended']);
    const metrics = await (await fetch(`${t.httpBase}/metrics`)).text();
    expect(metrics).toMatch(/kibitz_frames_sampled_total\{stream="main"\} 1[123]/);
    expect(metrics).toMatch(/kibitz_frames_decoded_total\{stream="main"\} 180/);
    expect(metrics).not.toContain(key);
  });

  it('refuses an unknown key: publisher disconnected, no session, counted', async () => {
    const pub = publishFile(t.url('not-a-key'), fixture);
    const code = await Promise.race([pub.exited, new Promise((r) => setTimeout(() => r('still running'), 5000))]);
    await pub.stop();
    expect(code).not.toBe('still running');
    expect(code).not.toBe(0);
    expect(t.app.sessions.list().map((s) => s.name)).not.toContain('not-a-key');
    const metrics = await (await fetch(`${t.httpBase}/metrics`)).text();
    expect(metrics).toMatch(/kibitz_publishes_refused_total\{reason="unknown-key",protocol="rtmp"\} 1/);
  });
});
