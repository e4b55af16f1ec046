import { describe, expect, it } from 'vitest';
import { CanvasAssembler } from '../../src/decode/canvas_assembler.ts';

const pgm = (w: number, h: number, fill: number) => Buffer.concat([Buffer.from(`P5\n${w} ${h}\n255\n`), Buffer.alloc(w * h, fill)]);

describe('CanvasAssembler', () => {
  it('cuts PGM pictures out of arbitrary chunks, whatever size each one says it is', () => {
    const bytes = Buffer.concat([pgm(4, 2, 7), pgm(3, 3, 9)]);
    const a = new CanvasAssembler();
    const out = [];
    for (let i = 0; i < bytes.length; i += 5) out.push(...a.push(bytes.subarray(i, i + 5)));
    expect(out.map((p) => [p.width, p.height, p.data.length, p.data[0]])).toEqual([[4, 2, 8, 7], [3, 3, 9, 9]]);
  });

  it('refuses bytes that are not an 8-bit PGM with a clear error', () => {
    expect(() => new CanvasAssembler().push(Buffer.from('P6\n1 1\n255\nabc'))).toThrow(/expected a PGM/);
    expect(() => new CanvasAssembler().push(Buffer.from('P5\n99999 1\n255\n'))).toThrow(/unsupported PGM/);
    expect(() => new CanvasAssembler().push(Buffer.from('P5\n1x 1\n255\n'))).toThrow(/not a number/);
  });
});
