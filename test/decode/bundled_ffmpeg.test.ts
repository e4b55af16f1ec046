import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { testKey } from '../helpers/app.ts';
import { envWithoutSystemFfmpeg, h264Fixture } from '../helpers/ffmpeg.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * `npm install && npm start` on a machine without ffmpeg: `kibitz serve` (the default config,
 * model included) and `kibitz push` both run the bundled ffmpeg when PATH has none.
 */
const BIN = path.resolve('bin/kibitz.mjs');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-bundled-'));
const key = testKey('bundled');
const env = {
  ...envWithoutSystemFfmpeg(), KIBITZ_MAIN_KEY: key, KIBITZ_DATA_DIR: dataDir, KIBITZ_LOG_FORMAT: 'pretty',
  KIBITZ_HTTP_PORT: '0', KIBITZ_RTMP_PORT: '0', KIBITZ_RTMP_HOST: '127.0.0.1',
};
let serve: ChildProcess | undefined;

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve!.once('close', r));
  }
  rmSync(dataDir, { recursive: true, force: true });
});

it('`kibitz serve` and `kibitz push` with no ffmpeg on PATH: the bundled one decodes and publishes; the log says which', async () => {
  serve = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  serve.stdout!.on('data', (d) => (log += d));
  serve.stderr!.on('data', (d) => (log += d));
  const [, http, rtmp] = await waitFor(() => /HTTP http:\/\/127\.0\.0\.1:(\d+)[\s\S]*rtmp:\/\/127\.0\.0\.1:(\d+)\/live/.exec(log), 'kibitz serve to start', 30_000);
  await waitFor(() => log.includes('ffmpeg: ffmpeg version'), 'the ffmpeg log line');
  expect(log).toMatch(/ffmpeg: ffmpeg version \S+ .*node_modules\/@ffmpeg-installer\/\S+\/ffmpeg \(bundled, @ffmpeg-installer\/ffmpeg\)/);
  expect(log).not.toContain('not using');

  const push = spawn(process.execPath, [BIN, 'push', h264Fixture(3), '--key', key, '--url', `rtmp://127.0.0.1:${rtmp}/live`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  push.stdout.on('data', (d) => (out += d));
  push.stderr.on('data', (d) => (out += d));
  expect(await new Promise((resolve) => push.on('close', resolve))).toBe(0);
  expect(out).toContain('(bundled, @ffmpeg-installer/ffmpeg)');

  type Listed = { streams: { name: string; framesSampled: number; framesDecoded: number }[] };
  const main = await waitFor(async () => {
    const s = ((await (await fetch(`http://127.0.0.1:${http}/api/streams`)).json()) as Listed).streams.find((x) => x.name === 'main');
    return s && s.framesDecoded === 90 ? s : undefined;
  }, 'all 90 frames of the push at the decoder');
  expect(main.framesSampled).toBeGreaterThanOrEqual(5);
});
