import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/bus.ts';
import type { KibitzEvent } from '../../src/events.ts';
import { cacheLimitsFor, ModelEngine } from '../../src/model/engine.ts';
import { Model } from '../../src/model/model.ts';
import { StreamContext } from '../../src/model/stream_context.ts';
import { sampleFrames } from '../helpers/sample_frames.ts';

let model: Model;
const FRAMES = sampleFrames();
beforeAll(async () => {
  model = await Model.load({ packageDir: 'models/kibitz-demo' });
}, 60_000);
afterAll(() => model?.close());

const ctxOf = (name: string) => new StreamContext(name, model, { limits: cacheLimitsFor(model), maxResponseTokens: 24 });

describe('decoder steps batched across streams', () => {
  it('gives the same decisions and text as one stream at a time (past the window, with text in between)', async () => {
    const names = ['a', 'b', 'c'];
    const alone = names.map(ctxOf);
    const batched = names.map(ctxOf);
    const offset = (k: number, i: number) => (k * 41 + i) % FRAMES.length;
    for (let i = 0; i < 24; i++) { // 24 frames > the 16-frame window: eviction and renumbering happen in both
      const embeds = await model.encodeFrames(names.map((_, k) => FRAMES[offset(k, i)]!));
      const per = embeds.length / names.length;
      const rows = names.map((_, k) => embeds.slice(k * per, (k + 1) * per));
      const one: number[] = [];
      for (let k = 0; k < names.length; k++) one.push(await alone[k]!.stepFrame(rows[k]!));
      const many = await StreamContext.stepFrames(model, batched.map((ctx, k) => ({ ctx, embeds: rows[k]! })));
      for (let k = 0; k < names.length; k++) expect(many[k]!).toBeCloseTo(one[k]!, 5);
      if (i % 6 === 5) {
        for (let k = 0; k < names.length; k++) {
          const [x, y] = [await alone[k]!.generate([...model.prompts.commentary]), await batched[k]!.generate([...model.prompts.commentary])];
          expect(y.ids).toEqual(x.ids);
        }
      }
    }
    for (let k = 0; k < names.length; k++) {
      expect(batched[k]!.cache.seqLength).toBe(alone[k]!.cache.seqLength);
      const q = model.prompts.question('what is the score?', 64);
      expect((await batched[k]!.generate(q)).ids).toEqual((await alone[k]!.generate(q)).ids);
    }
  });

  it('generates several streams\' lines together, token for token as one at a time', async () => {
    const names = ['a', 'b', 'c', 'd'];
    const alone = names.map((n) => new StreamContext(n, model, { limits: cacheLimitsFor(model), maxResponseTokens: 8 }));
    const together = names.map((n) => new StreamContext(n, model, { limits: cacheLimitsFor(model), maxResponseTokens: 8 }));
    for (let i = 0; i < 6; i++) {
      const embeds = await model.encodeFrames(names.map((_, k) => FRAMES[(k * 31 + i) % FRAMES.length]!));
      const per = embeds.length / names.length;
      for (let k = 0; k < names.length; k++) {
        await alone[k]!.stepFrame(embeds.slice(k * per, (k + 1) * per));
        await together[k]!.stepFrame(embeds.slice(k * per, (k + 1) * per));
      }
    }
    const commentary = [...model.prompts.commentary];
    const none = names.map(() => [] as number[]);
    const rounds = [
      { prompt: commentary, after: none },
      { prompt: model.prompts.question('what is the score?', 64), after: none },
      // line stamps after eos differ in length per row: each length shares its own last run
      { prompt: commentary, after: [9, 10, 125, 7].map((s) => model.codec.encodeUntrusted(`at ${s} seconds`)) },
    ];
    for (const { prompt, after } of rounds) {
      const one: Awaited<ReturnType<StreamContext["generate"]>>[] = [];
      for (const [k, c] of alone.entries()) one.push(await c.generate(prompt, after[k]));
      const many = await StreamContext.generateMany(model, together, prompt, after);
      expect(many.map((g) => g.ids)).toEqual(one.map((g) => g.ids));
      expect(many.map((g) => g.finished)).toEqual(one.map((g) => g.finished));
      many.forEach((g, k) => expect(g.meanLogprob).toBeCloseTo(one[k]!.meanLogprob, 4));
      together.forEach((c, k) => expect(c.cache.seqLength).toBe(alone[k]!.cache.seqLength));
    }
  });

  it('a stream that fails inside a batch breaks only itself', async () => {
    const bus = new EventBus();
    const events: KibitzEvent[] = [];
    bus.subscribe((e) => events.push(e));
    const engine = new ModelEngine(model, bus, pino({ level: 'silent' }), { threshold: 1 });
    for (const s of ['ok1', 'bad', 'ok2']) engine.open(s);
    // break one stream's model state the way a bug would: its context is gone
    (engine as unknown as { slots: Map<string, { ctx: StreamContext }> }).slots.get('bad')!.ctx.dispose();
    const { width, height } = model.manifest.frame;
    for (let seq = 0; seq < 4; seq++) {
      for (const [k, s] of ['ok1', 'bad', 'ok2'].entries()) {
        engine.offer({ stream: s, seq, streamTimeMs: seq * 500, width, height, data: FRAMES[(k * 37 + seq) % FRAMES.length]!, decodedAt: performance.now() });
      }
      const t0 = Date.now();
      while (!(engine.stats('ok1')!.framesProcessed > seq && engine.stats('ok2')!.framesProcessed > seq)) {
        if (Date.now() - t0 > 10_000) throw new Error('the healthy streams stopped');
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    expect(engine.stats('ok1')!.framesProcessed).toBe(4);
    expect(engine.stats('ok2')!.framesProcessed).toBe(4);
    expect(engine.stats('bad')!.framesProcessed).toBe(0);
    expect(events.filter((e) => e.kind === 'commentary' && e.stream !== 'bad').length).toBeGreaterThan(0);
    await engine.close();
  });
});
