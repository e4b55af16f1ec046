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
  const keys = { timing: testKey('timing'), early: testKey('early') };

  beforeAll(async () => {
    ffmpeg = await resolveFfmpeg({ env });
    t = await startTestApp({ streams: [{ name: 'timing', key: keys.timing }, { name: 'early', key: keys.early }], app: { ffmpeg } });
  });
  afterAll(async () => t?.close());

  // A second keyframe 0.27 s in (x264's scene cut does that when a game window appears): a
  // decoder that joined the publish late started there and stamped everything 0.27 s early.
  it.each([
    { clip: 'keyframes every 2 s', keyframeAt: undefined, stream: 'timing' as const },
    { clip: 'a second keyframe at source frame 8', keyframeAt: 8, stream: 'early' as const },
  ])('frame n is the newest source frame at or before n / fps, from the publisher\'s first frame (frame-numbered 720p30 clip, B-frames, $clip)', async ({ keyframeAt, stream }) => {
    expect(ffmpeg.source).toBe(source);
    const frames: Frame[] = [];
    const consumer = new AbortController();
    t.app.onSession((s) => {
      if (s.name !== stream) return;
      void (async () => {
        for await (const f of s.frames(consumer.signal)) frames.push(f);
      })();
    });
    const seconds = 6;
    const pub = publishFile(t.url(keys[stream]), numberedClip(seconds, keyframeAt));
    expect(await pub.exited).toBe(0);
    await waitFor(() => t.app.sessions.get(stream)?.state === 'reconnecting', 'decoder done', 8000);
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
