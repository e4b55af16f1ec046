import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GreyPicture } from '../../src/decode/canvas_assembler.ts';
import { Decoder } from '../../src/decode/decoder.ts';
import { resolveFfmpeg } from '../../src/ffmpeg.ts';

/** Search mode against real ffmpeg: the view moves while the decoder runs, the canvas comes along and widens on demand. */
describe('decoder in search mode', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-move-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('moves the crop without a restart, drops the frames cut in between, and sends the grey canvas', async () => {
    const ffmpeg = await resolveFfmpeg({});
    // 1280x720 blue, a red box in the top left quarter, a green one in the bottom right quarter.
    const file = path.join(dir, 'boxes.mp4');
    execFileSync(ffmpeg.path, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=blue:s=1280x720:r=30:d=6',
      '-vf', 'drawbox=x=0:y=0:w=640:h=360:color=red:t=fill,drawbox=x=640:y=360:w=640:h=360:color=green:t=fill', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', file]);
    const frames: Buffer[] = [];
    const canvases: GreyPicture[] = [];
    const share = (f: Buffer, pick: (r: number, g: number, b: number) => boolean) => {
      let n = 0;
      for (let i = 0; i < f.length; i += 3) if (pick(f[i]!, f[i + 1]!, f[i + 2]!)) n++;
      return n / (f.length / 3);
    };
    const red = (r: number, g: number, b: number) => r > 180 && g < 80 && b < 80;
    const green = (r: number, g: number, b: number) => g > 100 && r < 80 && b < 80;
    let decoder!: Decoder;
    const done = new Promise<void>((resolve) => {
      decoder = new Decoder({ ffmpeg, input: { label: 'file', args: ['-re', '-i', file] }, fps: 4, width: 64, height: 36, view: [0, 0, 0.5, 0.5],
        search: { canvas: { fps: 2, maxWidth: 96 }, fit: 'stretch' } }, {
        onFrame: (f) => frames.push(f),
        onCanvas: (p) => canvases.push(p),
        onExit: () => resolve(),
      });
      decoder.start();
    });
    while (frames.length < 4) await new Promise((r) => setTimeout(r, 50));
    expect(share(frames[0]!, red)).toBeGreaterThan(0.95);
    const before = frames.length;
    await decoder.moveView([0.5, 0.5, 0.5, 0.5]);
    await done;
    const after = frames.slice(before);
    expect(after.length).toBeGreaterThanOrEqual(8);
    // Every frame after the move shows the new place only: none is half old, half new.
    for (const f of after) expect(share(f, green)).toBeGreaterThan(0.95);
    expect(decoder.framesSettling).toBeGreaterThanOrEqual(1);
    // The canvas: the whole picture, 96 wide, twice a second, in grey (luma: red 76, blue 29).
    expect(canvases.length).toBeGreaterThanOrEqual(10);
    for (const c of canvases) expect(c).toMatchObject({ width: 96, height: 54 });
    const c = canvases.at(-1)!;
    expect(c.data[10 * 96 + 10]!).toBeGreaterThan(c.data[10 * 96 + 80]! + 30); // red top left, blue top right
  }, 30_000);
});
