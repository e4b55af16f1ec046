import { describe, expect, it } from 'vitest';
import { FrameAssembler } from '../../src/decode/assembler.ts';

describe('FrameAssembler', () => {
  const frames = (n: number, size: number) => Buffer.from(Array.from({ length: n * size }, (_, i) => Math.floor(i / size) % 256));

  it('cuts any chunking into whole frames, in order', () => {
    const size = 12;
    const all = frames(5, size);
    for (const chunk of [1, 5, 12, 13, 25, 60]) {
      const a = new FrameAssembler(size);
      const out: Buffer[] = [];
      for (let off = 0; off < all.length; off += chunk) out.push(...a.push(all.subarray(off, off + chunk)));
      expect(out.map((f) => f[0])).toEqual([0, 1, 2, 3, 4]);
      expect(out.every((f) => f.length === size && f.every((b) => b === f[0]))).toBe(true);
      expect(a.pendingBytes).toBe(0);
    }
  });

  it('keeps an incomplete frame pending and never aliases the input buffer', () => {
    const a = new FrameAssembler(4);
    const input = Buffer.from([1, 1, 1, 1, 2, 2]);
    const [f] = a.push(input);
    input.fill(9);
    expect([...f!]).toEqual([1, 1, 1, 1]);
    expect(a.pendingBytes).toBe(2);
  });
});
