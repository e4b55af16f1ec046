import { describe, expect, it } from 'vitest';
import { FrameAssembler } from '../../src/decode/assembler.ts';
import { Decoder } from '../../src/decode/decoder.ts';
import { frameFilter } from '../../src/decode/filter.ts';

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

describe('decoder command line', () => {
  it('uses exactly the trained filter chain', () => {
    expect(frameFilter(2, 192, 108)).toBe('fps=2:round=up,scale=192:108:force_original_aspect_ratio=decrease:flags=bilinear,pad=192:108:(ow-iw)/2:(oh-ih)/2:black,format=rgb24');
    const args = Decoder.args({ input: { label: 't', args: ['-i', 'x'] }, fps: 2, width: 192, height: 108 });
    expect(args[args.indexOf('-vf') + 1]).toBe(frameFilter(2, 192, 108));
    expect(args.slice(-5)).toEqual(['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  });
});
