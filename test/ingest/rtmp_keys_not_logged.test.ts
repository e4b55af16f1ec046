import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { startTestApp, testKey } from '../helpers/app.ts';
import { h264Fixture, publishFile } from '../helpers/ffmpeg.ts';
import { waitFor } from '../helpers/wait.ts';

it('stream keys never reach the log, even at trace level (ours and node-media-server\'s lines)', async () => {
  let logged = '';
  const sink = new Writable({ write(chunk, _enc, cb) { logged += chunk; cb(); } });
  const key = testKey('secret');
  const wrong = testKey('wrongkey');
  const t = await startTestApp({ streams: [{ name: 'visible-name', key }], app: { log: createLogger({ level: 'trace', format: 'json', destination: sink }) } });
  try {
    const ok = publishFile(t.url(key), h264Fixture(6), { extra: ['-t', '1.5'] });
    await waitFor(() => (t.app.sessions.get('visible-name')?.counters.framesSampled ?? 0) > 0, 'frames');
    await ok.exited;
    const bad = publishFile(t.url(wrong), h264Fixture(6), { extra: ['-t', '1'] });
    await Promise.race([bad.exited, new Promise((r) => setTimeout(r, 4000))]);
    await bad.stop();
  } finally {
    await t.close();
  }
  expect(logged).toContain('visible-name');
  expect(logged).toContain('unknown stream key');
  expect(logged).toContain('node-media-server'); // its (debug) lines are captured, not printed
  expect(logged).not.toContain(key);
  expect(logged).not.toContain(wrong);
});
