import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';
import { h264Fixture } from '../helpers/ffmpeg.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestApp;
const key = testKey('push');
beforeAll(async () => {
  t = await startTestApp({ streams: [{ name: 'pushed', key }] });
});
afterAll(async () => t?.close());

it('`kibitz push FILE --key K --url ...` streams the file in real time; frames count up at 2 fps; the key stays off the terminal', async () => {
  const file = h264Fixture(3);
  const child = spawn(process.execPath, [path.resolve('bin/kibitz.mjs'), 'push', file, '--key', key, '--url', t.rtmpBase], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code).toBe(0);
  expect(Date.now() - started).toBeGreaterThan(2500); // real time, not as fast as possible
  expect(out).toContain('H.264, copied');
  expect(out).not.toContain(key);
  const s = await waitFor(() => t.app.sessions.get('pushed'), 'session');
  // the publisher is done; on a loaded machine the service's decoder may still be draining
  await waitFor(() => s.counters.framesDecoded >= 90, 'all 90 frames decoded', 20_000);
  expect(s.counters.framesSampled).toBeGreaterThanOrEqual(5);
  expect(s.counters.framesDecoded).toBe(90);
});
