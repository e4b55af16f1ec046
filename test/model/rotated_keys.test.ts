import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheLimits } from '../../src/model/kv_cache.ts';
import { Model } from '../../src/model/model.ts';
import { StreamContext } from '../../src/model/stream_context.ts';

/**
 * decoder.pastKeys "rotated": the graphs rotate only each step's new keys, and the cache turns
 * the few stored keys whose position changes (models/CONTRACT.md "Positions"). The same random
 * weights exported both ways (models/scripts/rotated_keys_fixture.py) must stream alike: every
 * P(silent), every generated line and its log-probability, through frame and text evictions, old
 * text kept past its frames, and the cache's rebase (positions move back down once the offset
 * passes 1024: with 4-frame windows of 25 tokens plus lines, about every 30 frames).
 */
const DIR = 'test/fixtures/rotated_keys';
/** float32 kernels rotate at different moments in the two graphs; a wrong turn is off by >1e-2. */
const TOLERANCE = 1e-4;

let raw: Model;
let rotated: Model;
beforeAll(async () => {
  raw = await Model.load({ packageDir: `${DIR}/raw`, provider: 'cpu', threading: { intraOp: 1 } });
  rotated = await Model.load({ packageDir: `${DIR}/rotated`, provider: 'cpu', threading: { intraOp: 1 } });
});
afterAll(async () => {
  await raw.close();
  await rotated.close();
});

function frame(bytes: number, seed: number): Uint8Array {
  const a = new Uint8Array(bytes);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < a.length; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

async function streamBoth(limits: CacheLimits, frames: number) {
  expect(raw.manifest.decoder.pastKeys).toBeUndefined();
  expect(rotated.manifest.decoder.pastKeys).toBe('rotated');
  const a = new StreamContext('raw', raw, { limits, maxResponseTokens: 6 });
  const b = new StreamContext('rotated', rotated, { limits, maxResponseTokens: 6 });
  let worst = 0;
  let lines = 0;
  for (let f = 0; f < frames; f++) {
    const embeds = await raw.encodeFrames([frame(raw.frameBytes, f + 1)]);
    worst = Math.max(worst, Math.abs((await a.stepFrame(embeds)) - (await b.stepFrame(embeds))));
    if (f % 3 === 2) {
      const prompt = [...raw.prompts.commentary];
      const [ga, gb] = [await a.generate(prompt), await b.generate(prompt)];
      expect(gb.ids).toEqual(ga.ids);
      worst = Math.max(worst, Math.abs(ga.meanLogprob - gb.meanLogprob));
      lines++;
    }
  }
  return { worst, lines };
}

describe('rotated past keys stream exactly like pre-RoPE ones', () => {
  it('through frame and text evictions and rebases', async () => {
    const { worst, lines } = await streamBoth({ sinkTokens: 1, windowFrames: 4, textBudget: 12, maxStepTokens: 16 }, 100);
    expect(lines).toBe(33);
    expect(worst).toBeLessThan(TOLERANCE);
  });

  it('with old text kept past the frames around it (keepOldText: earlier entries move, not later ones)', async () => {
    const { worst } = await streamBoth({ sinkTokens: 1, windowFrames: 4, textBudget: 20, maxStepTokens: 16, keepOldText: true }, 70);
    expect(worst).toBeLessThan(TOLERANCE);
  });
});
