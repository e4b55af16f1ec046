import { describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.ts';
import { frameFilter } from '../../src/decode/filter.ts';
import { resolveFfmpeg } from '../../src/ffmpeg.ts';
import { envWithoutSystemFfmpeg } from '../helpers/ffmpeg.ts';

const opts = { input: { label: 't', args: ['-i', 'x'] }, fps: 2, width: 192, height: 108 };

describe('decoder command line', () => {
  it('uses exactly the trained filter chain, its grid anchored at the first frame', () => {
    expect(frameFilter(2, 192, 108)).toBe('setpts=PTS-STARTPTS,fps=2:round=up,scale=192:108:force_original_aspect_ratio=decrease:flags=bilinear,pad=192:108:(ow-iw)/2:(oh-ih)/2:black,format=rgb24');
  });

  it("uses the scaler a package was trained with (VideoLLM-online: bicubic, letterboxed square)", async () => {
    expect(frameFilter(2, 384, 384, undefined, 'bicubic')).toBe('setpts=PTS-STARTPTS,fps=2:round=up,scale=384:384:force_original_aspect_ratio=decrease:flags=bicubic,pad=384:384:(ow-iw)/2:(oh-ih)/2:black,format=rgb24');
    const { caps } = await resolveFfmpeg({});
    const args = Decoder.args({ ...opts, scaler: 'bicubic' }, caps);
    expect(args[args.indexOf('-vf') + 1]).toContain(':flags=bicubic,');
  });

  it.each([
    { build: 'system ffmpeg 5.1 (on PATH)', env: process.env, sync: '-fps_mode' },
    { build: 'bundled ffmpeg 4.x', env: envWithoutSystemFfmpeg(), sync: '-vsync' },
  ])('$build: passthrough spelled $sync, the rest the same', async ({ env, sync }) => {
    const { caps } = await resolveFfmpeg({ env });
    const args = Decoder.args(opts, caps);
    expect(args[args.indexOf('-vf') + 1]).toBe(frameFilter(2, 192, 108));
    expect(args.slice(args.indexOf('-vf') + 2)).toEqual([sync, 'passthrough', '-flush_packets', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  });
});
