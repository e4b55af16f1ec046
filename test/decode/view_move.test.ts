import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GreyPicture } from '../../src/decode/canvas_assembler.ts';
import { Decoder, STDIN_INPUT } from '../../src/decode/decoder.ts';
import { scaledCut, type FrameView } from '../../src/decode/filter.ts';
import { resolveFfmpeg } from '../../src/ffmpeg.ts';
import { envWithoutSystemFfmpeg } from '../helpers/ffmpeg.ts';

/** Search mode against real ffmpeg: the view moves (and changes size) while the decoder runs; the canvas comes along. */
describe('decoder in search mode', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-move-'));
  const started: Decoder[] = [];
  afterAll(async () => {
    await Promise.all(started.map((d) => d.stop())); // a failed run leaves no ffmpeg behind
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves the crop without a restart, drops the frames cut in between, the rest byte for byte what a decoder started on the new view cuts', async () => {
    const ffmpeg = await resolveFfmpeg({});
    // Moving content everywhere (testsrc2), so any misplaced or stale crop shows in the bytes.
    const file = path.join(dir, 'moving.mp4');
    execFileSync(ffmpeg.path, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=1280x720:r=30:d=7', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file]);
    const from: FrameView = [0.25, 0.25, 0.5, 0.5];
    const to: FrameView = [0.05, 0.5, 0.3, 0.4]; // another place and another size
    const decode = (view: FrameView, search: boolean, onStart?: (d: Decoder, frames: Map<number, Buffer>, canvases: GreyPicture[]) => void) => {
      const frames = new Map<number, Buffer>();
      const canvases: GreyPicture[] = [];
      return new Promise<{ frames: Map<number, Buffer>; canvases: GreyPicture[]; settling: number }>((resolve) => {
        const d = new Decoder({ ffmpeg, input: { label: 'file', args: ['-re', '-i', file] }, fps: 4, width: 64, height: 36, view,
          ...(search ? { search: { canvas: { fps: 2, maxWidth: 96 }, fit: 'stretch' as const } } : {}) }, {
          onFrame: (f, i) => frames.set(i, f),
          onCanvas: (p) => canvases.push(p),
          onExit: () => resolve({ frames, canvases, settling: d.framesSettling }),
        });
        d.start();
        started.push(d);
        onStart?.(d, frames, canvases);
      });
    };
    let movedAt = -1;
    const [moving, fixed] = await Promise.all([
      decode(from, true, (d, frames) => {
        const t = setInterval(() => {
          if (frames.size < 6) return;
          clearInterval(t);
          d.moveView(to).then(() => (movedAt = Math.max(...frames.keys())));
        }, 50);
      }),
      decode(to, false),
    ]);
    expect(movedAt).toBeGreaterThan(0);
    const after = [...moving.frames.keys()].filter((i) => i > movedAt);
    expect(after.length).toBeGreaterThanOrEqual(8);
    for (const i of after) expect(moving.frames.get(i)!.equals(fixed.frames.get(i)!), `frame ${i}`).toBe(true);
    // Frames cut while the commands went in never reach the model.
    expect(moving.settling).toBeGreaterThanOrEqual(1);
    for (const [i, f] of moving.frames) if (i <= movedAt - 4) expect(f.equals(fixed.frames.get(i)!)).toBe(false);
    // The canvas: the whole picture in grey, 96 wide, twice a second.
    expect(moving.canvases.length).toBeGreaterThanOrEqual(10);
    for (const c of moving.canvases) expect(c).toMatchObject({ width: 96, height: 54 });
  }, 30_000);

  // Both ffmpeg builds kibitz may pick (the bundled one is older: its scale filter takes the same commands).
  it.each([
    { build: 'the system ffmpeg', env: process.env },
    { build: 'the bundled ffmpeg', env: envWithoutSystemFfmpeg() },
  ])('a scaled picture ($build): the whole source is scaled so that the view is the trained size, and cut there on a whole pixel, byte for byte a fixed chain doing the same', async ({ env }) => {
    const ffmpeg = await resolveFfmpeg({ env });
    const file = path.join(dir, `moving_scaled_${ffmpeg.source}.mp4`);
    execFileSync(ffmpeg.path, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=1280x720:r=30:d=6', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file]);
    // a 300x200 picture shown at 0.83x, at a place that is not on any whole pixel
    const toSize = [300, 200] as const;
    const to: FrameView = [0.1234567, 0.2345678, (300 * 0.83) / 1280, (200 * 0.83) / 720];
    const cut = scaledCut(to, toSize);
    expect(Math.abs(cut.fitW / (1280 / 0.83) - 1)).toBeLessThan(0.003);
    expect(Math.abs(cut.x - to[0] * cut.fitW)).toBeLessThan(0.5);
    const frames = new Map<number, Buffer>();
    let movedAt = -1;
    await new Promise<void>((resolve) => {
      const d = new Decoder({ ffmpeg, input: { label: 'file', args: ['-re', '-i', file] }, fps: 4, width: 64, height: 36, view: [0.25, 0.25, 0.5, 0.5],
        search: { canvas: { fps: 2, maxWidth: 96 }, fit: 'stretch' } }, {
        onFrame: (f, i) => {
          frames.set(i, f);
          if (frames.size === 6) void d.moveView(to, toSize).then(() => (movedAt = Math.max(...frames.keys())));
        },
        onExit: () => resolve(),
      });
      d.start();
      started.push(d);
    });
    const fixed = execFileSync(ffmpeg.path, ['-v', 'error', '-i', file, '-vf',
      `setpts=PTS-STARTPTS,fps=4:round=up,scale=${cut.fitW}:${cut.fitH}:flags=bicubic,crop=${toSize[0]}:${toSize[1]}:${cut.x}:${cut.y}:exact=1,` +
      'scale=64:36:flags=bilinear,pad=64:36:(ow-iw)/2:(oh-ih)/2:black,format=rgb24', '-f', 'rawvideo', '-'], { maxBuffer: 1 << 26 });
    const size = 64 * 36 * 3;
    expect(movedAt).toBeGreaterThan(0);
    const after = [...frames.keys()].filter((i) => i > movedAt);
    expect(after.length).toBeGreaterThanOrEqual(8);
    for (const i of after) expect(frames.get(i)!.equals(fixed.subarray(i * size, (i + 1) * size)), `frame ${i}`).toBe(true);
  }, 30_000);

  it('a stdin-fed input (WHIP) moves to a private socket, since stdin carries the commands; the socket goes with the decoder', async () => {
    const ffmpeg = await resolveFfmpeg({});
    const ts = path.join(dir, 'in.ts');
    execFileSync(ffmpeg.path, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=30:d=3', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts', ts]);
    const before = readdirSync(os.tmpdir()).filter((f) => f.startsWith('kibitz-decoder-')).length;
    let frames = 0, canvases = 0;
    await new Promise<void>((resolve) => {
      const d = new Decoder({ ffmpeg, input: { label: 'whip', args: ['-f', 'mpegts', '-i', STDIN_INPUT], stdin: createReadStream(ts) }, fps: 2, width: 64, height: 36,
        search: { canvas: { fps: 1, maxWidth: 320 }, fit: 'letterbox' } }, {
        onFrame: () => frames++,
        onCanvas: () => canvases++,
        onExit: (e) => { expect(e.reason).toBe('ended'); resolve(); },
      });
      started.push(d);
      d.start();
    });
    expect(frames).toBeGreaterThanOrEqual(5);
    expect(canvases).toBeGreaterThanOrEqual(2);
    expect(readdirSync(os.tmpdir()).filter((f) => f.startsWith('kibitz-decoder-')).length).toBe(before);
  }, 30_000);
});
