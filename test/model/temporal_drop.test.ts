import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/bus.ts';
import type { KibitzEvent } from '../../src/events.ts';
import type { Frame } from '../../src/frames.ts';
import { Metrics } from '../../src/metrics.ts';
import { cacheLimitsFor, ModelEngine } from '../../src/model/engine.ts';
import type { Broadcast } from '../../bench/evaluate.ts';
import { loadModelPackage } from '../../src/model/manifest.ts';
import { Model } from '../../src/model/model.ts';
import { StreamContext } from '../../src/model/stream_context.ts';
import { gatherTokens, temporalRuleFor, TemporalModeError, TokenDrop, type TemporalRule } from '../../src/model/temporal_drop.ts';
import { sampleFrames } from '../helpers/sample_frames.ts';

/** The crafted frames the toolkit's test checks too (models/tests/test_temporal.py). */
interface Cases {
  width: number;
  height: number;
  grid: [number, number];
  cases: { name: string; rule: TemporalRule; frames: { fill: number; rects: number[][]; reset?: boolean; fed: number[]; why?: string }[] }[];
}
const CASES = JSON.parse(readFileSync('models/tests/temporal_drop_cases.json', 'utf8')) as Cases;

function crafted(fill: number, rects: number[][], width = CASES.width, height = CASES.height): Uint8Array {
  const f = new Uint8Array(width * height * 3).fill(fill);
  for (const [y0, y1, x0, x1, v] of rects) for (let y = y0!; y < y1!; y++) f.fill(v!, (y * width + x0!) * 3, (y * width + x1!) * 3);
  return f;
}

describe('temporal token drop: the rule', () => {
  for (const c of CASES.cases) {
    it(`gives the toolkit's tokens on crafted frames: ${c.name}`, () => {
      const drop = new TokenDrop(c.rule, CASES.width, CASES.height, CASES.grid);
      c.frames.forEach((f, i) => {
        if (f.reset) drop.reset();
        expect(drop.step(crafted(f.fill, f.rects)), `frame ${i}: ${f.why ?? ''}`).toEqual(f.fed);
      });
    });
  }

  it('gathers the fed tokens in order, and hands back all V untouched', () => {
    const V = 4;
    const d = 2;
    const e = Float32Array.from({ length: V * d }, (_, i) => i);
    expect([...gatherTokens(e, [0, 2, 3], V, d)]).toEqual([0, 1, 4, 5, 6, 7]);
    expect(gatherTokens(e, [0, 1, 2, 3], V, d)).toBe(e);
  });

  it('refuses a package whose temporal block has no grid that fits', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kibitz-ttd-'));
    try {
      cpSync('models/kibitz-demo', dir, { recursive: true });
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      m.temporal = { cellMargin: 8, threshold: 2, refreshFrames: 12 };
      m.vision.grid = [2, 8];
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
      expect(() => loadModelPackage(dir)).toThrow(/temporal block needs vision\.grid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * A package trained with the drop: the shipped one (trained both ways, `cli train --temporal
 * --temporal-share 0.5`; it ships the drop off by default, so these turn it on), or the one named
 * by KIBITZ_TEMPORAL_PACKAGE. Skipped only where no package has a `temporal` block.
 */
const PKG = process.env.KIBITZ_TEMPORAL_PACKAGE ?? ['models/kibitz-demo'].find((dir) => {
  try {
    return Boolean(loadModelPackage(dir).manifest.temporal);
  } catch {
    return false;
  }
});
const log = pino({ level: 'silent' });

describe.skipIf(!PKG)(`temporal token drop: a package trained with it (${PKG ?? 'none here: train and export models/.cache/pkgs/ttd'})`, () => {
  let model: Model;
  beforeAll(async () => {
    model = await Model.load({ packageDir: PKG! });
  });
  afterAll(async () => {
    await model?.close();
  });

  const { width, height, fps } = { width: 256, height: 144, fps: 2 };
  const at = (stream: string, seq: number, data: Uint8Array): Frame => ({ stream, seq, streamTimeMs: (seq * 1000) / fps, width, height, data, decodedAt: performance.now() });

  // a gem picked up (score change), an enemy appearing (a few cells change), a hit (popup and flash: most cells)
  for (const [name, kind] of [['broadcast1', 'pickup'], ['broadcast2', 'spawn'], ['broadcast1', 'hit']] as const) {
    it(`still reports an event on an otherwise still picture: ${kind} (${name})`, async () => {
      const file = `models/samples/${name}.mp4`;
      const truth = JSON.parse(readFileSync(file.replace(/\.mp4$/, '.json'), 'utf8')) as Broadcast;
      const frames = sampleFrames(width, height, file);
      // the first such event with nothing else in the 2 s before it and the 1 s after it
      const ev = truth.events;
      const k = ev.findIndex((e, j) => e.kind === kind && j > 0 && e.t - ev[j - 1]!.t >= 2 && (ev[j + 1]?.t ?? Infinity) - e.t >= 1);
      const event = ev[k]!;
      const first = Math.ceil(event.t * fps - 1e-9); // the first frame that shows it
      const bus = new EventBus();
      const lines: KibitzEvent[] = [];
      bus.subscribe((e) => e.kind === 'commentary' && lines.push(e));
      const engine = new ModelEngine(model, bus, log, { temporal: 'on' }); // a package may ship the drop off by default
      engine.open(name);
      let seq = 0;
      for (let i = first - 12; i < first; i++) await engine.offerAndWait(at(name, seq++, frames[i]!));
      for (let r = 0; r < 6; r++) await engine.offerAndWait(at(name, seq++, frames[first - 1]!)); // 3 s of a still picture
      const before = engine.stats(name)!.tokensFed;
      const eventMs = (seq * 1000) / fps;
      await engine.offerAndWait(at(name, seq++, frames[first]!));
      const fed = engine.stats(name)!.tokensFed - before;
      if (kind !== 'hit') expect(fed, 'the event frame is fed only in part').toBeLessThan(12);
      for (let i = first + 1; i <= first + 3; i++) await engine.offerAndWait(at(name, seq++, frames[i]!));
      const said = lines.filter((l) => l.streamTimeMs >= eventMs && l.streamTimeMs <= eventMs + 2000).map((l) => l.text);
      expect(said.join(' | '), `${name}: "${event.text}" at ${event.t} s (${fed} tokens fed on its first frame)`).toContain(event.text);
      await engine.close();
    });
  }
});

/**
 * The runtime's side of the drop with the shipped weights (decoder_frame.onnx takes 1..V tokens)
 * given the default rule: which tokens are fed, the counters, batching of unequal rows. Runs on
 * every machine; what a trained model says on still pictures is the describe above.
 */
describe('temporal token drop: the runtime, on the shipped weights with the default rule', () => {
  let model: Model;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kibitz-ttd-'));
    cpSync('models/kibitz-demo', dir, { recursive: true });
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.temporal = { cellMargin: 8, threshold: 2, refreshFrames: 12 }; // the default rule, on (the shipped package has it off)
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    model = await Model.load({ packageDir: dir });
  });
  afterAll(async () => {
    await model?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const { width, height, fps } = { width: 256, height: 144, fps: 2 };
  const at = (stream: string, seq: number, data: Uint8Array): Frame => ({ stream, seq, streamTimeMs: (seq * 1000) / fps, width, height, data, decodedAt: performance.now() });

  it('feeds only the summary token of an unchanged frame, and the changed cells of a changed one', async () => {
    const engine = new ModelEngine(model, new EventBus(), log, {});
    engine.open('s');
    const still = sampleFrames(width, height)[40]!;
    await engine.offerAndWait(at('s', 0, still));
    expect(engine.stats('s')).toMatchObject({ tokensFed: 25, tokensSkipped: 0 });
    await engine.offerAndWait(at('s', 1, still));
    expect(engine.stats('s')).toMatchObject({ framesProcessed: 2, tokensFed: 26, tokensSkipped: 24 });
    // a white square inside cell 13 (row 1, col 5: y 48..96, x 160..192), clear of every margin
    const changed = still.slice();
    for (let y = 60; y < 84; y++) changed.fill(255, (y * width + 170) * 3, (y * width + 182) * 3);
    await engine.offerAndWait(at('s', 2, changed));
    expect(engine.stats('s')).toMatchObject({ framesProcessed: 3, tokensFed: 28, tokensSkipped: 47 });
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.addModelStats(() => engine.allStats());
    const text = await metrics.text();
    expect(text).toContain('kibitz_model_vision_tokens{stream="s",result="fed"} 28');
    expect(text).toContain('kibitz_model_vision_tokens{stream="s",result="skipped"} 47');
    await engine.close();
  });

  it('runs the drop as model.temporal says: auto follows the package, off feeds every token, on needs a trained package', async () => {
    const still = sampleFrames(width, height)[40]!;
    const engine = new ModelEngine(model, new EventBus(), log, { temporal: 'off' });
    engine.open('s');
    await engine.offerAndWait(at('s', 0, still));
    await engine.offerAndWait(at('s', 1, still));
    expect(engine.stats('s')).toMatchObject({ framesProcessed: 2, tokensFed: 50, tokensSkipped: 0 });
    await engine.close();
    const rule = model.manifest.temporal!;
    const name = model.manifest.name;
    expect(temporalRuleFor({ name, temporal: rule }, 'auto')).toEqual(rule); // no default: on
    expect(temporalRuleFor({ name, temporal: { ...rule, default: 'off' } }, 'auto')).toBeNull();
    expect(temporalRuleFor({ name, temporal: { ...rule, default: 'off' } }, 'on')).toMatchObject({ threshold: rule.threshold });
    expect(temporalRuleFor({ name, temporal: rule }, 'off')).toBeNull();
    expect(temporalRuleFor({ name }, 'auto')).toBeNull();
    // the model layer names no config key; engineFor (src/model_host) makes it model.temporal's ConfigError (test/config/cli_exit.test.ts)
    expect(() => temporalRuleFor({ name }, 'on')).toThrow(TemporalModeError);
    expect(() => temporalRuleFor({ name }, 'on')).toThrow(/^"on", but package .* has no temporal block: it was not trained with the temporal token drop/);
  });

  it('steps streams that feed different numbers of tokens exactly as each alone', async () => {
    const frames = sampleFrames(width, height);
    const limits = cacheLimitsFor(model);
    const names = ['still', 'moving'];
    const alone = names.map((n) => new StreamContext(n, model, { limits, maxResponseTokens: 8 }));
    const together = names.map((n) => new StreamContext(n, model, { limits, maxResponseTokens: 8 }));
    const drops = names.map(() => new TokenDrop(model.manifest.temporal!, width, height, model.manifest.vision.grid!));
    const V = model.manifest.vision.tokensPerFrame;
    const d = model.manifest.decoder.dModel;
    for (let i = 0; i < 20; i++) {
      const pics = [frames[10]!, frames[10 + i]!];
      const embeds = await model.encodeFrames(pics);
      const rows = pics.map((p, k) => gatherTokens(embeds.subarray(k * V * d, (k + 1) * V * d), drops[k]!.step(p), V, d));
      const one = [await alone[0]!.stepFrame(rows[0]!), await alone[1]!.stepFrame(rows[1]!)];
      if (rows[0]!.length !== rows[1]!.length) {
        await expect(StreamContext.stepFrames(model, together.map((ctx, k) => ({ ctx, embeds: rows[k]! })))).rejects.toThrow(/same number of tokens/);
        for (let k = 0; k < 2; k++) expect(await together[k]!.stepFrame(rows[k]!)).toBeCloseTo(one[k]!, 5);
      } else {
        const many = await StreamContext.stepFrames(model, together.map((ctx, k) => ({ ctx, embeds: rows[k]! })));
        many.forEach((p, k) => expect(p).toBeCloseTo(one[k]!, 5));
      }
    }
    // the cache stays inside what it was sized for (V tokens a frame) with 1..V-token frames
    expect(alone[0]!.cache.framesKept).toBe(limits.windowFrames);
  });
});
