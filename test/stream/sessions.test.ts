import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Frame } from '../../src/frames.ts';
import { PUBLISH_ERROR_HTTP, PublishError } from '../../src/stream/sessions.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { h264Fixture, publishFile } from '../helpers/ffmpeg.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestApp;
let annexB: string;
const rtmpKey = testKey('dup');

beforeAll(async () => {
  const mp4 = h264Fixture(6);
  annexB = mp4.replace(/\.mp4$/, '.h264');
  if (!existsSync(annexB)) {
    const tmp = `${annexB}.${process.pid}.tmp`;
    spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', mp4, '-map', '0:v', '-c', 'copy', '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', tmp]);
    spawnSync('mv', [tmp, annexB]);
  }
  t = await startTestApp({ streams: [{ name: 'piped', key: testKey('piped') }, { name: 'dup', key: rtmpKey }], config: { ingest: { graceMs: 0 } } });
});
afterAll(async () => t?.close());

it('a decoder fed through stdin (how WHIP plugs in) goes through the same decode -> sample -> session path', async () => {
  const frames: Frame[] = [];
  t.app.onSession((s) => {
    if (s.name !== 'piped') return;
    void (async () => {
      for await (const f of s.frames()) frames.push(f);
    })();
  });
  const handle = t.app.sessions.startPublish({
    stream: 'piped', protocol: 'test-stdin',
    input: () => ({ label: 'stdin', args: ['-framerate', '30', '-f', 'h264', '-i', 'pipe:0'], stdin: createReadStream(annexB) }),
  });
  // The raw file is read as fast as the decoder goes: 6 s of media at 2 fps.
  await waitFor(() => frames.length >= 12, '12 frames', 15_000);
  expect(frames.map((f) => f.streamTimeMs).slice(0, 12)).toEqual(Array.from({ length: 12 }, (_, i) => i * 500));

  expect(() => t.app.sessions.startPublish({ stream: 'piped', protocol: 'test-stdin', input: () => ({ label: 'x', args: [] }) }))
    .toThrow(expect.objectContaining({ code: 'ALREADY_PUBLISHING' }));
  expect(PUBLISH_ERROR_HTTP.ALREADY_PUBLISHING).toBe(409);
  expect(() => t.app.sessions.startPublish({ stream: 'nope', protocol: 'x', input: () => ({ label: 'x', args: [] }) })).toThrow(PublishError);
  handle.end();
  handle.end(); // idempotent
  await waitFor(() => t.app.sessions.get('piped')?.state === 'ended', 'ended (grace 0)');
});

it('a second RTMP publisher with the same key is refused while the first keeps going', async () => {
  const first = publishFile(t.url(rtmpKey), h264Fixture(6));
  await waitFor(() => (t.app.sessions.get('dup')?.counters.framesSampled ?? 0) > 0, 'first publisher frames', 8000);
  const second = publishFile(t.url(rtmpKey), h264Fixture(6));
  const code = await Promise.race([second.exited, new Promise((r) => setTimeout(() => r('still running'), 5000))]);
  await second.stop();
  expect(code).not.toBe('still running');
  const s = t.app.sessions.get('dup')!;
  const n = s.counters.framesSampled;
  await waitFor(() => s.counters.framesSampled > n + 1, 'first publisher still delivering');
  expect(s.state).toBe('live');
  await first.stop();
});
