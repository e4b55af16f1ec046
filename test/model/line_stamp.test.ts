import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventBus } from '../../src/bus.ts';
import { cacheLimitsFor, ModelEngine } from '../../src/model/engine.ts';
import { ModelPackageError, loadModelPackage } from '../../src/model/manifest.ts';
import { Model } from '../../src/model/model.ts';
import { StreamContext } from '../../src/model/stream_context.ts';
import { sampleFrames } from '../helpers/sample_frames.ts';

/** Line stamps (models/CONTRACT.md "Line stamps"), on a copy of the demo package given a stamp block. */
const STAMP = 'at {seconds} seconds';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kibitz-stamp-'));
  cpSync('models/kibitz-demo', dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.stamp = { text: STAMP, unit: 'second' };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('line stamps', () => {
  it('a stamped package\'s stamp is the frame\'s whole stream second; a plain package has none', async () => {
    const stamped = await Model.load({ packageDir: dir });
    const plain = await Model.load({ packageDir: 'models/kibitz-demo' });
    try {
      expect(stamped.prompts.afterLine('commentary', 12_999)).toEqual(stamped.codec.encodeUntrusted('at 12 seconds'));
      expect(stamped.codec.decode(stamped.prompts.afterLine('commentary', 125_000))).toBe('at 125 seconds');
      expect(stamped.codec.decode(stamped.prompts.afterLine('commentary', 400))).toBe('at 0 seconds');
      expect(plain.prompts.afterLine('commentary', 12_999)).toEqual([]);
    } finally {
      await stamped.close();
      await plain.close();
    }
  });

  it('is fed after the line\'s eos: it goes into the cache, not into the line', async () => {
    const model = await Model.load({ packageDir: dir });
    try {
      const ctx = new StreamContext('s', model, { limits: cacheLimitsFor(model), maxResponseTokens: 6 });
      const [frame] = sampleFrames();
      await ctx.stepFrame(await model.encodeFrames([frame!]));
      const before = ctx.cache.seqLength;
      const stamp = model.prompts.afterLine('commentary', 42_000);
      const gen = await ctx.generate([...model.prompts.commentary], stamp);
      expect(ctx.cache.seqLength - before).toBe(1 + gen.ids.length + 1 + stamp.length); // prompt, words, eos, stamp
    } finally {
      await model.close();
    }
  });

  it('refuses a stamp without {seconds}, saying which field', () => {
    const bad = mkdtempSync(join(tmpdir(), 'kibitz-stamp-bad-'));
    try {
      cpSync(dir, bad, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(bad, 'manifest.json'), 'utf8'));
      manifest.stamp.text = 'at some point';
      writeFileSync(join(bad, 'manifest.json'), JSON.stringify(manifest));
      expect(() => loadModelPackage(bad)).toThrow(ModelPackageError);
      expect(() => loadModelPackage(bad)).toThrow(/stamp\.text/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('the engine feeds each speaking stream the stamp of its own frame, and says only what the model wrote', async () => {
    const model = await Model.load({ packageDir: dir });
    const calls: { prompt: number[]; after: number[] }[] = [];
    const spy = vi.spyOn(StreamContext.prototype, 'generate').mockImplementation(async function (prompt: number[], after: number[] = []) {
      calls.push({ prompt, after });
      return { ids: model.codec.encodeUntrusted('an enemy appears'), meanLogprob: -0.1, finished: true };
    });
    const bus = new EventBus();
    const lines: string[] = [];
    bus.subscribe((e) => { if (e.kind === 'commentary') lines.push(e.text); });
    const engine = new ModelEngine(model, bus, pino({ level: 'silent' }), { threshold: 1 }); // every frame speaks
    try {
      engine.open('s');
      const { width, height } = model.manifest.frame;
      const frames = sampleFrames();
      const times = [0, 7_500, 61_000];
      for (const [seq, t] of times.entries()) {
        engine.offer({ stream: 's', seq, streamTimeMs: t, width, height, data: frames[seq]!, decodedAt: performance.now() });
        const t0 = Date.now();
        while (engine.stats('s')!.framesProcessed <= seq) {
          if (Date.now() - t0 > 10_000) throw new Error('the frame was not processed');
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      await vi.waitFor(() => expect(calls.length).toBe(times.length));
      expect(calls.map((c) => model.codec.decode(c.after))).toEqual(['at 0 seconds', 'at 7 seconds', 'at 61 seconds']);
      expect(calls.every((c) => c.prompt.length === 1 && c.prompt[0] === model.prompts.commentary[0])).toBe(true);
      expect(lines[0]).toBe('an enemy appears'); // the stamp is context, not part of the line
    } finally {
      spy.mockRestore();
      await engine.close();
      await model.close();
    }
  });
});
