import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { BatchScratch, KvCache } from '../../src/model/kv_cache.ts';
import type { Manifest } from '../../src/model/manifest.ts';

const manifest = {
  format: 'kibitz-mod/1', name: 't',
  frame: { width: 4, height: 4, fps: 2 },
  vision: { tokensPerFrame: 5 },
  decoder: { dModel: 8, layers: 2, heads: 2, kvHeads: 1, headDim: 2, vocab: 10, routedLayers: [1], keepRatio: 0.4, keptPerFrame: 2, ropeTheta: 10000, pastKeys: 'rotated' },
  tokens: { silent: 3, eos: 2, question: 4, answer: 5, summary: 6, commentary: 7 },
} as Manifest;

/** Fake graph outputs whose keys and values encode the token serial, so we can see what is kept (values: keys are turned when positions move). */
function outputs(T: number, kept: number[], base: number): ort.InferenceSession.ReturnType {
  const mk = (vals: number[]) => new ort.Tensor('float32', Float32Array.from(vals.flatMap((v) => [v, v])), [1, 1, vals.length, 2]);
  const dense = Array.from({ length: T }, (_, t) => base + t);
  const routed = kept.map((i) => base + i);
  return { 'new_key.0': mk(dense), 'new_value.0': mk(dense), 'new_key.1': mk(routed), 'new_value.1': mk(routed) } as unknown as ort.InferenceSession.ReturnType;
}

function validEntries(cache: KvCache, layer: number): { serial: number; pos: number }[] {
  const feeds: Record<string, ort.Tensor> = {};
  cache.feeds(feeds);
  const value = feeds[`past_value.${layer}`]!.data as Float32Array;
  const pos = feeds[`past_pos.${layer}`]!.data as BigInt64Array;
  const valid = feeds[`past_valid.${layer}`]!.data as Uint8Array;
  const out: { serial: number; pos: number }[] = [];
  valid.forEach((v, slot) => v && out.push({ serial: value[slot * 2]!, pos: Number(pos[slot]) }));
  return out.sort((a, b) => a.pos - b.pos);
}

describe('KvCache', () => {
  it('keeps sinks + the last windowFrames frames + text, with contiguous positions, in fixed memory', () => {
    const cache = new KvCache(manifest, { sinkTokens: 2, windowFrames: 3, textBudget: 4, maxStepTokens: 4 });
    const bytes = cache.bytes;
    let serial = 0;
    const feedFrame = () => {
      const pos = cache.prepare('frame', 5);
      // the new tokens' positions follow the last kept entry's (positions are rank + offset, contiguous)
      const last = validEntries(cache, 0).at(-1);
      expect(Number(pos[0])).toBe(last ? last.pos + 1 : 0);
      const idx = new Map([[1, BigInt64Array.from([1n, 3n])]]);
      cache.append('frame', 5, outputs(5, [1, 3], serial), idx);
      serial += 5;
    };
    for (let i = 0; i < 10; i++) feedFrame();
    cache.prepare('text', 3);
    cache.append('text', 3, outputs(3, [0, 1, 2], serial));
    serial += 3;
    feedFrame();

    expect(cache.bytes).toBe(bytes);
    expect(cache.framesKept).toBe(3);
    const l0 = validEntries(cache, 0);
    // sinks (serials 0,1) + last 3 frames (serials 40..49 are frames 8,9; 53..57 is frame 10) + text 50..52
    expect(l0.map((e) => e.serial)).toEqual([0, 1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57]);
    expect(l0.map((e) => e.pos - l0[0]!.pos)).toEqual(l0.map((_, i) => i));
    expect(cache.seqLength).toBe(l0.length);
    // routed layer: only the kept tokens (1 and 3 of each frame), positions shared with layer 0
    const l1 = validEntries(cache, 1);
    expect(l1.map((e) => e.serial)).toEqual([1, 41, 43, 46, 48, 50, 51, 52, 54, 56]); // text goes through every layer
    const posOf = new Map(l0.map((e) => [e.serial, e.pos]));
    for (const e of l1) expect(e.pos).toBe(posOf.get(e.serial));
  });

  it('evicts old text beyond the budget, never the sinks', () => {
    const cache = new KvCache(manifest, { sinkTokens: 2, windowFrames: 2, textBudget: 4, maxStepTokens: 4 });
    let serial = 0;
    for (let i = 0; i < 6; i++) {
      cache.prepare('text', 3);
      cache.append("text", 3, outputs(3, [0, 1, 2], serial));
      serial += 3;
    }
    const l0 = validEntries(cache, 0);
    expect(l0[0]!.serial).toBe(0);
    expect(l0[1]!.serial).toBe(1);
    expect(l0.length).toBeLessThanOrEqual(2 + 4 + 4);
  });

  it('refuses a text step longer than maxStepTokens', () => {
    const cache = new KvCache(manifest, { sinkTokens: 0, windowFrames: 2, textBudget: 4, maxStepTokens: 4 });
    expect(() => cache.prepare('text', 5)).toThrow(/maxStepTokens/);
  });

  it('drops text older than the window with its frames, unless keepOldText', () => {
    for (const keepOldText of [false, true]) {
      const cache = new KvCache(manifest, { sinkTokens: 1, windowFrames: 2, textBudget: 8, maxStepTokens: 4, keepOldText });
      let serial = 0;
      const frame = () => {
        cache.prepare('frame', 5);
        cache.append('frame', 5, outputs(5, [1, 3], serial), new Map([[1, BigInt64Array.from([1n, 3n])]]));
        serial += 5;
      };
      frame(); // serials 0..4 (0 is the sink)
      cache.prepare('text', 2);
      cache.append('text', 2, outputs(2, [0, 1], serial)); // 5, 6: said after frame 0
      serial += 2;
      frame(); // 7..11
      frame(); // 12..16: frame 0 leaves the window
      const kept = validEntries(cache, 0).map((e) => e.serial);
      expect(kept.includes(5), `keepOldText=${keepOldText}`).toBe(keepOldText);
      expect(kept[0]).toBe(0);
      expect(kept.slice(-10)).toEqual([7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    }
  });
});

describe('BatchScratch (batched input buffers reused across calls)', () => {
  it('hands back the same memory for the same layer, a view when the batch shrinks, and lends itself to one call at a time', () => {
    const s = new BatchScratch();
    const a = s.layer(0, 8, 4);
    expect(s.layer(0, 8, 4).key).toBe(a.key);
    const small = s.layer(0, 3, 2);
    expect(small.key.length).toBe(3);
    expect(small.key.buffer).toBe(a.key.buffer);
    expect(small.valid.length).toBe(2);
    expect(s.layer(0, 16, 8).key.length).toBe(16); // grows
    expect(s.layer(1, 8, 4).pos).toBeInstanceOf(BigInt64Array);
    expect(s.layer(1, 8, 4).valid).toBeInstanceOf(Uint8Array);
    expect(s.borrow()).toBe(true);
    expect(s.borrow()).toBe(false); // a second, overlapping call uses its own
    s.giveBack();
    expect(s.borrow()).toBe(true);
  });
});
