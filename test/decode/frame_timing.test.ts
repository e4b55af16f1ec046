import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveFfmpeg, type FfmpegInfo } from '../../src/ffmpeg.ts';
import type { Frame } from '../../src/frames.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { envWithoutSystemFfmpeg, publishFile } from '../helpers/ffmpeg.ts';
import { frameNumber, NUMBERED_CLIP_FPS, numberedClip } from '../helpers/numbered_clip.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The RTMP path end to end (publish -> node-media-server -> kibitz's decoder ffmpeg -> frames)
 * with each ffmpeg kibitz may pick: the model must see the same frames from every build.
 * The publisher is always the system ffmpeg (it plays OBS); only kibitz's choice changes.
 */
const builds = [
  { name: 'the system ffmpeg on PATH', env: process.env, source: 'PATH' },
  { name: 'the bundled ffmpeg, no ffmpeg on PATH', env: envWithoutSystemFfmpeg(), source: 'bundled' },
] as const;

describe.each(builds)('RTMP decode with $name', ({ env, source }) => {
  let t: TestApp;
  let ffmpeg: FfmpegInfo;
  const key = testKey('timing');

  beforeAll(async () => {
    ffmpeg = await resolveFfmpeg({ env });
    t = await startTestApp({ streams: [{ name: 'timing', key }], app: { ffmpeg } });
  });
  afterAll(async () => t?.close());

  it('frame n is the newest source frame at or before n / fps (frame-numbered 720p30 clip, B-frames)', async () => {
    expect(ffmpeg.source).toBe(source);
    const frames: Frame[] = [];
    const consumer = new AbortController();
    t.app.onSession((s) => {
      void (async () => {
        for await (const f of s.frames(consumer.signal)) frames.push(f);
      })();
    });
    const seconds = 6;
    const pub = publishFile(t.url(key), numberedClip(seconds));
    expect(await pub.exited).toBe(0);
    await waitFor(() => t.app.sessions.get('timing')?.state === 'reconnecting', 'decoder done', 8000);
    consumer.abort();

    const fps = t.app.config.model.fps;
    const step = NUMBERED_CLIP_FPS / fps; // 15 at 2 fps: sample n shows source frame 15 n
    // The default round=near would show up to half a step later (15 n + 7).
    const shown = frames.map((f) => frameNumber(f.data, f.width, f.height));
    expect(shown.length).toBeGreaterThanOrEqual(seconds * fps - 1);
    expect(shown.length).toBeLessThanOrEqual(seconds * fps + 1);
    const last = seconds * NUMBERED_CLIP_FPS - 1;
    expect(shown).toEqual(shown.map((_, n) => Math.min(n * step, last)));
    expect(frames.map((f) => f.streamTimeMs)).toEqual(frames.map((_, n) => (n * 1000) / fps));
  });
});
