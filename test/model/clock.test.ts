import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamClock } from '../../src/model/clock.ts';
import { ModelPackageError, loadModelPackage } from '../../src/model/manifest.ts';
import { Model } from '../../src/model/model.ts';

/** The stream clock (models/CONTRACT.md "Stream clock"), on a copy of the demo package given a clock table. */
const DIGITS = 3;
let dir: string;
let d: number;
let table: Float32Array;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kibitz-clock-'));
  cpSync('models/kibitz-demo', dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  d = manifest.decoder.dModel;
  table = Float32Array.from({ length: DIGITS * 10 * d }, (_, i) => Math.sin(i * 0.37));
  writeFileSync(join(dir, 'time_embed.bin'), Buffer.from(table.buffer));
  manifest.clock = { file: 'time_embed.bin', digits: DIGITS, unit: 'second', text: true };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const row = (p: number, digit: number) => table.subarray((p * 10 + digit) * d, (p * 10 + digit + 1) * d);

describe('stream clock', () => {
  it('sums one row per decimal digit of the whole second, and wraps at 10^digits', () => {
    const clock = new StreamClock(table, DIGITS, d);
    const v = clock.vector(307.9);
    for (let i = 0; i < d; i++) expect(v[i]).toBeCloseTo(row(0, 7)[i]! + row(1, 0)[i]! + row(2, 3)[i]!, 6);
    expect(Array.from(clock.vector(1307))).toEqual(Array.from(v));
    const frame = new Float32Array(2 * d).fill(1);
    clock.stamp(frame, 307_400);
    for (let t = 0; t < 2; t++) for (let i = 0; i < d; i++) expect(frame[t * d + i]).toBeCloseTo(1 + v[i]!, 6);
  });

  it('a package with a clock stamps text after a frame (clock.text), never without one', async () => {
    const model = await Model.load({ packageDir: dir });
    try {
      const id = model.prompts.commentary[0]!;
      const bare = model.embed([id]).data as Float32Array;
      const at = model.embed([id, id], 42_000).data as Float32Array;
      const c = model.clock!.vector(42);
      for (let i = 0; i < d; i++) {
        expect(bare[i]).toBe(model.pkg.embedTokens[id * d + i]);
        for (let t = 0; t < 2; t++) expect(at[t * d + i]).toBeCloseTo(bare[i]! + c[i]!, 6);
      }
    } finally {
      await model.close();
    }
    const plain = await Model.load({ packageDir: 'models/kibitz-demo' });
    try {
      expect(plain.clock).toBeNull();
      expect(Array.from(plain.embed([5], 42_000).data as Float32Array)).toEqual(Array.from(plain.embed([5]).data as Float32Array));
    } finally {
      await plain.close();
    }
  });

  it('a clock table of the wrong size is refused with what to do', () => {
    writeFileSync(join(dir, 'time_embed.bin'), Buffer.alloc(12));
    expect(() => loadModelPackage(dir)).toThrow(ModelPackageError);
    expect(() => loadModelPackage(dir)).toThrow(/time_embed\.bin has 12 bytes/);
    writeFileSync(join(dir, 'time_embed.bin'), Buffer.from(table.buffer));
  });
});
