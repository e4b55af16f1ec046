import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KibitzEvent } from '../../src/events.ts';
import { longestRun } from '../../src/model/line_guard.ts';
import { DEFAULT_ENGINE_OPTIONS, type ModelEngine } from '../../src/model/engine.ts';
import { embeddedModelHost } from '../../src/model_host/embedded.ts';
import { publishFile } from '../helpers/ffmpeg.ts';
import { startTestApp, testKey, type TestApp } from '../helpers/app.ts';

/**
 * A stream the bundled model does not understand, then its own world, on one publish: ffmpeg's
 * `mandelbrot` (a family no training or threshold choice ever saw) for 20 s, cut to a held-out
 * sample broadcast. Over real RTMP, real decode, the shipped package.
 */
const OUT_S = 20;
const IN_S = 30;
const SAMPLE = 'models/samples/broadcast2.mp4';

function cutFixture(): string {
  const dir = path.join(os.tmpdir(), 'kibitz-test-fixtures');
  const file = path.join(dir, `mandelbrot${OUT_S}-then-broadcast2-${IN_S}s.mp4`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `mandelbrot=s=1280x720:r=30,trim=duration=${OUT_S}`, '-i', SAMPLE,
    '-filter_complex', `[0:v]format=yuv420p,setsar=1[a];[1:v]trim=duration=${IN_S},setpts=PTS-STARTPTS,fps=30,format=yuv420p,setsar=1[b];[a][b]concat=n=2:v=1:a=0[v]`,
    '-map', '[v]', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '60', '-bf', '2', '-pix_fmt', 'yuv420p', tmp,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`fixture encode failed: ${r.stderr?.toString()}`);
  renameSync(tmp, file);
  return file;
}

describe('a stream outside the model\'s world, then back in it (RTMP)', () => {
  let t: TestApp;
  let engine: ModelEngine;
  const events: KibitzEvent[] = [];
  const contentAt: { ms: number; content: unknown }[] = [];

  beforeAll(async () => {
    const modelHost = embeddedModelHost();
    t = await startTestApp({ streams: [{ name: 'cut', key: testKey('cut') }], config: { model: { package: 'models/kibitz-demo' } }, app: { modelHost } });
    engine = modelHost.engine!;
    t.app.bus.subscribe((ev) => void events.push(ev));
  }, 60_000);
  afterAll(() => t?.close());

  it('stays silent, says so once, answers honestly, and recovers on the cut', async () => {
    const file = cutFixture();
    const key = t.app.config.streams[0]!.key;
    const pub = publishFile(t.url(key), file);
    const asked: Promise<unknown>[] = [];
    const questions = [{ atMs: 12_000, q: 'what is the score?' }, { atMs: OUT_S * 1000 + 15_000, q: 'what is the score?' }];
    const timer = setInterval(async () => {
      const ms = t.app.sessions.get('cut')?.streamTimeMs ?? -1;
      while (questions.length > 0 && questions[0]!.atMs <= ms) {
        const { q } = questions.shift()!;
        asked.push(engine.ask({ stream: 'cut', question: q, user: 'viewer' }));
      }
      if (ms >= 0) {
        const res = await t.app.http.inject({ method: 'GET', url: '/api/streams' });
        contentAt.push({ ms, content: (res.json() as { streams: { name: string; content: unknown }[] }).streams.find((s) => s.name === 'cut')?.content });
      }
    }, 250);
    expect(await pub.exited).toBe(0);
    clearInterval(timer);
    await Promise.all(asked);
    await new Promise((r) => setTimeout(r, 1500));

    const mine = events.filter((e) => e.stream === 'cut');
    const status = mine.filter((e) => e.kind === 'status' && (e.status === 'unrecognised' || e.status === 'recognised'));
    const lines = mine.filter((e) => e.kind === 'commentary');
    const answers = mine.filter((e) => e.kind === 'answer');
    const outLines = lines.filter((l) => l.streamTimeMs < OUT_S * 1000);
    console.log(`out of world: ${outLines.length} lines in ${OUT_S} s; status ${status.map((s) => `${s.status}@${s.streamTimeMs}`).join(', ')}; ` +
      `in world: ${lines.length - outLines.length} lines; answers ${answers.map((a) => `@${a.streamTimeMs} "${a.text}"`).join(' | ')}`);

    // out of the world: at most one line a minute, the state and its one status event
    expect(outLines.length).toBeLessThanOrEqual(Math.ceil(OUT_S / 60));
    expect(status[0]?.status).toBe('unrecognised');
    expect(status[0]!.streamTimeMs).toBeLessThan(8_000);
    expect(status[0]!.text).toMatch(/only knows the world it was trained on/);
    expect(contentAt.some((c) => c.ms > 8_000 && c.ms < OUT_S * 1000 && c.content === 'unrecognised')).toBe(true);
    // the question asked meanwhile got the honest answer
    expect(answers[0]!.text).toBe(DEFAULT_ENGINE_OPTIONS.honestAnswer);

    // back in the world on the same publish: recognised again within a few seconds of the cut, talking again
    expect(status.filter((s) => s.status === 'unrecognised')).toHaveLength(1);
    const back = status.find((s) => s.status === 'recognised');
    expect(back, 'recognised again after the cut').toBeDefined();
    expect(back!.streamTimeMs).toBeGreaterThan(OUT_S * 1000);
    expect(back!.streamTimeMs).toBeLessThan(OUT_S * 1000 + 8_000);
    expect(contentAt.at(-1)!.content).toBe('recognised');
    expect(lines.length - outLines.length).toBeGreaterThanOrEqual(5);
    expect(answers[1]!.text).not.toBe(DEFAULT_ENGINE_OPTIONS.honestAnswer);

    // nothing degenerate left the engine
    for (const e of [...lines, ...answers]) expect(longestRun(e.text.split(/\s+/)), e.text).toBeLessThan(3);
  }, 150_000);
});
