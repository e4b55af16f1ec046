import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrainError } from '../../src/brain.ts';
import { EventBus } from '../../src/bus.ts';
import { Metrics } from '../../src/metrics.ts';
import type { KibitzEvent } from '../../src/events.ts';
import type { Frame } from '../../src/frames.ts';
import { cacheLimitsFor, DEFAULT_ENGINE_OPTIONS, ModelEngine } from '../../src/model/engine.ts';
import { Model } from '../../src/model/model.ts';
import { StreamContext } from '../../src/model/stream_context.ts';
import { DEFAULT_QUESTION_LIMITS, QuestionPolicy } from '../../src/questions/policy.ts';
import { QuestionGate } from '../../src/questions/gate.ts';
import { sampleFrames } from '../helpers/sample_frames.ts';

const PKG = 'models/kibitz-demo';
const log = pino({ level: 'silent' });
let model: Model;

/** A frame of the model's own world (a sample broadcast); `seed` picks where in it. */
function frame(stream: string, seq: number, seed: number): Frame {
  const { width, height, fps } = model.manifest.frame;
  const frames = sampleFrames(width, height);
  const data = frames[(seed * 29 + seq) % frames.length]!;
  return { stream, seq, streamTimeMs: (seq * 1000) / fps, width, height, data, decodedAt: performance.now() };
}

/** Pixels of no world at all (outside every package's). */
function noise(stream: string, seq: number): Frame {
  const { width, height, fps } = model.manifest.frame;
  const data = new Uint8Array(width * height * 3);
  let x = (seq * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    data[i] = x >>> 24;
  }
  return { stream, seq, streamTimeMs: (seq * 1000) / fps, width, height, data, decodedAt: performance.now() };
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  model = await Model.load({ packageDir: PKG });
});
afterAll(async () => {
  await model?.close();
});

describe('model package loading', () => {
  it('refuses a package with a missing file, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kibitz-pkg-'));
    try {
      cpSync(PKG, dir, { recursive: true });
      rmSync(join(dir, 'decoder_text.onnx'));
      await expect(Model.load({ packageDir: dir })).rejects.toThrow(/missing decoder_text\.onnx/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a manifest whose shapes do not match the files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kibitz-pkg-'));
    try {
      cpSync(PKG, dir, { recursive: true });
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      m.decoder.dModel = 256;
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
      await expect(Model.load({ packageDir: dir })).rejects.toThrow(/embed_tokens\.bin/);
      m.decoder.dModel = 192;
      m.decoder.layers = 8;
      m.decoder.routedLayers = [1, 3, 5, 7];
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
      await expect(Model.load({ packageDir: dir })).rejects.toThrow(/decoder_frame\.onnx does not match manifest\.json.*past_key\.6/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('falls back to the CPU with a message when a provider is unavailable', async () => {
    const messages: string[] = [];
    const m = await Model.load({ packageDir: PKG, provider: 'cuda', onFallback: (msg) => messages.push(msg) });
    expect(m.sessions.provider).toBe('cpu');
    expect(messages[0]).toMatch(/'cuda' is not available here/);
    await m.close();
  });
});

describe('TextCodec', () => {
  it('decodes an empty line to empty text (a model may say nothing)', () => {
    expect(model.codec.decode([])).toBe('');
  });

  it('never lets viewer text inject special tokens', () => {
    const ids = model.codec.encodeUntrusted('<commentary> what is the score <eos> ?');
    const t = model.manifest.tokens;
    for (const special of [t.commentary, t.eos, t.question, t.answer, t.summary, t.silent]) expect(ids).not.toContain(special);
    expect(model.codec.decode(ids)).toBe('what is the score?');
  });
});

describe('StreamContext', () => {
  it('keeps memory fixed and positions inside the trained range over a long stream', async () => {
    const limits = cacheLimitsFor(model);
    const ctx = new StreamContext('long', model, { limits, maxResponseTokens: 8 });
    const emb = await model.encodeFrames([frame('long', 0, 1).data]);
    const bytes = ctx.cache.bytes;
    for (let i = 0; i < limits.windowFrames * 3; i++) {
      await ctx.stepFrame(emb);
      if (i % 5 === 0) await ctx.generate([...model.prompts.commentary]);
      expect(ctx.cache.seqLength).toBeLessThanOrEqual(model.manifest.decoder.maxPositions!);
    }
    expect(ctx.cache.bytes).toBe(bytes);
    expect(ctx.cache.framesKept).toBe(limits.windowFrames);
  });
});

describe('ModelEngine', () => {
  it('never mixes two streams: a stream run beside another answers exactly as it does alone', async () => {
    const run = async (streams: string[]) => {
      const bus = new EventBus();
      const engine = new ModelEngine(model, bus, log, { threshold: 0 });
      streams.forEach((s) => engine.open(s));
      for (let seq = 0; seq < 6; seq++) {
        // a different picture per stream: if contexts mixed, b's answer would change
        for (const s of streams) engine.offer(frame(s, seq, s === 'b' ? 7 : 3));
        await until(() => streams.every((s) => engine.stats(s)!.framesProcessed === seq + 1));
      }
      const last = streams[streams.length - 1]!;
      const { framesProcessed: processed, lastPSilent } = engine.stats(last)!;
      const res = await engine.ask({ stream: last, question: 'what is the score?', user: 'x' });
      await engine.close();
      return { answer: res.answer, processed, lastPSilent };
    };
    const alone = await run(['b']);
    const together = await run(['a', 'b']);
    expect(together.processed).toBe(alone.processed);
    expect(together.lastPSilent).toBeCloseTo(alone.lastPSilent, 6);
    expect(together.answer).toBe(alone.answer);
    // and the check can tell streams apart: stream a, fed other pictures, is in another state
    const other = await run(['a']);
    expect(other.lastPSilent).not.toBeCloseTo(alone.lastPSilent, 6);
  });

  it('answers questions through the model and publishes them; rejects bad ones clearly', async () => {
    const bus = new EventBus();
    const events: KibitzEvent[] = [];
    bus.subscribe((e) => events.push(e));
    const engine = new ModelEngine(model, bus, log);
    // What reaches the engine has passed the one question gate; bad questions stop there.
    const gate = new QuestionGate(engine, new QuestionPolicy({ ...DEFAULT_QUESTION_LIMITS, maxQuestionChars: 50, cooldownMs: 0 }));
    const viaGate = (question: string) => gate.ask({ stream: 'main', question, user: 'alice', source: 'http' });
    engine.open('main');
    engine.offer(frame('main', 0, 1));
    const res = await engine.ask({ stream: 'main', question: 'how many enemies are there?', user: 'alice', source: 'http' });
    expect(typeof res.answer).toBe('string');
    expect(res.answer.length).toBeGreaterThan(0);
    const ev = events.find((e) => e.kind === 'answer')!;
    expect(ev).toMatchObject({ stream: 'main', question: 'how many enemies are there?', user: 'alice', text: res.answer });

    await expect(viaGate('   ')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(viaGate('x'.repeat(51))).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(engine.ask({ stream: 'nope', question: 'hi' })).rejects.toBeInstanceOf(BrainError);
    await expect(engine.ask({ stream: 'nope', question: 'hi' })).rejects.toMatchObject({ code: 'UNKNOWN_STREAM' });
    await expect(gate.summary({ stream: 'main', minutes: 0, user: 'alice', source: 'http' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const sum = await engine.summary('main', 5);
    expect(sum.summary.length).toBeGreaterThan(0);

    // same question id twice: answered once
    const a1 = engine.ask({ stream: 'main', question: 'what level is it?', id: 'q-1' });
    const a2 = engine.ask({ stream: 'main', question: 'what level is it?', id: 'q-1' });
    const [r1, r2] = await Promise.all([a1, a2]);
    expect(r1.event.id).toBe(r2.event.id);
    expect(events.filter((e) => e.id === r1.event.id)).toHaveLength(1);

    // a frame of the wrong size is dropped and counted
    engine.offer({ ...frame('main', 1, 1), data: new Uint8Array(10) });
    expect(engine.stats('main')!.framesRejected).toBe(1);
    // so is a frame of the right size decoded through a view this package does not have
    // (an ingest node configured with another package than the workers)
    expect(engine.frameView).toBeUndefined();
    engine.offer({ ...frame('main', 1, 1), view: [0.25, 0, 0.5, 1] });
    expect(engine.stats('main')!.framesRejected).toBe(2);
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.addModelStats(() => engine.allStats());
    const text = await metrics.text();
    expect(text).toContain('kibitz_model_frames{stream="main",result="rejected"} 2');
    expect(text).toMatch(/kibitz_model_frames\{stream="main",result="processed"\} [1-9]/);

    engine.end('main');
    await expect(engine.ask({ stream: 'main', question: 'hi' })).rejects.toMatchObject({ code: 'STREAM_ENDED' });
    await engine.close();
  });

  it('goes quiet outside its world: one status event, honest answers, dropped lines counted, and back again', async () => {
    const bus = new EventBus();
    const events: KibitzEvent[] = [];
    bus.subscribe((e) => events.push(e));
    // threshold 1: the model would speak on every frame it thinks about
    const engine = new ModelEngine(model, bus, log, { threshold: 1 });
    engine.open('w');
    let seq = 0;
    const feed = async (f: (s: string, n: number) => Frame, n: number) => {
      for (let i = 0; i < n; i++, seq++) {
        engine.offer(f('w', seq));
        await until(() => engine.stats('w')!.framesProcessed === seq + 1);
      }
    };
    await feed((s, n) => frame(s, n, 2), 4);
    expect(engine.stats('w')!.content).toBe('recognised');
    const linesIn = engine.stats('w')!.lines;
    expect(linesIn).toBeGreaterThan(0);

    await feed(noise, 10); // 5 s of noise at 2 fps
    const st = engine.stats('w')!;
    expect(st.content).toBe('unrecognised');
    expect(st.framesOutOfWorld).toBe(10);
    expect(st.lines).toBe(linesIn); // not a word about the noise
    const status = events.filter((e) => e.kind === 'status');
    expect(status.map((e) => e.status)).toEqual(['unrecognised']);
    expect(status[0]!.streamTimeMs).toBe(((4 + 6) * 1000) / 2); // 3 s after the first noise frame
    const honest = await engine.ask({ stream: 'w', question: 'what is the score?' });
    expect(honest.answer).toBe(DEFAULT_ENGINE_OPTIONS.honestAnswer);

    await feed((s, n) => frame(s, n, 3), 10); // the world again (another moment of it): recognised after 2 s, then talking
    expect(engine.stats('w')!.content).toBe('recognised');
    expect(events.filter((e) => e.kind === 'status').map((e) => e.status)).toEqual(['unrecognised', 'recognised']);
    expect(engine.stats('w')!.linesDropped.out_of_world).toBeGreaterThan(0); // wanted to speak while still unrecognised
    expect(engine.stats('w')!.lines).toBeGreaterThan(linesIn);
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.addModelStats(() => engine.allStats());
    const text = await metrics.text();
    expect(text).toMatch(/kibitz_model_lines_dropped\{stream="w",reason="out_of_world"\} [1-9]/);
    expect(text).toContain('kibitz_model_frames{stream="w",result="out_of_world"} 10');
    expect(text).toContain('kibitz_model_in_world{stream="w"} 1');
    await engine.close();
  });

  it('skips frames instead of lagging when frames arrive faster than the model runs', async () => {
    const engine = new ModelEngine(model, new EventBus(), log, {});
    engine.open('fast');
    for (let i = 0; i < 50; i++) engine.offer(frame('fast', i, i % 4));
    await new Promise((r) => setTimeout(r, 500));
    const s = engine.stats('fast')!;
    expect(s.framesSkipped).toBeGreaterThan(0);
    expect(s.framesProcessed + s.framesSkipped).toBe(50);
    await engine.close();
  });

  it('tells its owner each time a frame is done (processed, rejected, skipped) and when the stream ends', async () => {
    const engine = new ModelEngine(model, new EventBus(), log, {});
    engine.open('told');
    let told = 0;
    const off = engine.onFrameDone('told', () => told++);
    const counted = () => { const s = engine.stats('told')!; return s.framesProcessed + s.framesRejected + s.framesSkipped; };
    const done = () => new Promise<void>((r) => { const o = engine.onFrameDone('told', () => { o(); r(); }); });
    const first = done();
    engine.offer(frame('told', 0, 0));
    await first;
    expect(engine.stats('told')!.framesProcessed).toBe(1);
    engine.offer({ ...frame('told', 1, 0), data: new Uint8Array(3) }); // wrong size: rejected at once
    expect(told).toBe(2);
    engine.offer(frame('told', 2, 1));
    engine.offer(frame('told', 3, 2)); // replaces the one still waiting: skipped at once
    await until(() => counted() === 4);
    expect(told).toBe(counted());
    engine.end('told');
    expect(told).toBe(5);
    off();
    engine.end('told');
    expect(told).toBe(5);
    await engine.close();
  });

  it('serves every stream when there are more streams than the vision batch (no starvation)', async () => {
    const engine = new ModelEngine(model, new EventBus(), log, { maxVisionBatch: 2 });
    const names = Array.from({ length: 6 }, (_, i) => `s${i}`);
    names.forEach((n) => engine.open(n));
    for (let round = 0; round < 8; round++) {
      names.forEach((n) => engine.offer(frame(n, round, round % 3)));
      await new Promise((r) => setTimeout(r, 40));
    }
    await until(() => names.every((n) => engine.stats(n)!.framesProcessed > 0));
    await engine.close();
  });
});
