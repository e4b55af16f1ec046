import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.ts';
import { checkView, frameFilter, type FrameView } from '../../src/decode/filter.ts';
import { resolveFfmpeg } from '../../src/ffmpeg.ts';
import { ManifestSchema } from '../../src/model/manifest.ts';

/** The frame chain with and without a package's view (manifest frame.view), against the toolkit's cases and real ffmpeg. */
const cases = JSON.parse(readFileSync('models/tests/frame_filter_cases.json', 'utf8')) as {
  cases: { fps: number; width: number; height: number; view: FrameView | null; filter: string }[];
  bad_views: number[][];
};

describe('frame view', () => {
  it.each(cases.cases)('builds the same chain as the toolkit: view $view', (c) => {
    expect(frameFilter(c.fps, c.width, c.height, c.view ?? undefined)).toBe(c.filter);
  });

  it.each(cases.bad_views)('refuses a view that is not inside the frame: %j', (...view) => {
    expect(() => checkView(view)).toThrow(/view/);
    const manifest = JSON.parse(readFileSync('models/kibitz-chess/manifest.json', 'utf8'));
    manifest.frame.view = view;
    expect(ManifestSchema.safeParse(manifest).success).toBe(false);
  });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-view-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // 1280x720: blue everywhere, a red box exactly where the view is (x 320..960, y 180..540).
  const view: FrameView = [0.25, 0.25, 0.5, 0.5];
  async function decode(v: FrameView | undefined): Promise<Buffer[]> {
    const ffmpeg = await resolveFfmpeg({});
    const file = path.join(dir, 'box.mp4');
    execFileSync(ffmpeg.path, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=blue:s=1280x720:r=30:d=2',
      '-vf', 'drawbox=x=320:y=180:w=640:h=360:color=red:t=fill', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', file]);
    const frames: Buffer[] = [];
    await new Promise<void>((resolve) => {
      new Decoder({ ffmpeg, input: { label: 'file', args: ['-i', file] }, fps: 2, width: 64, height: 36, view: v },
        { onFrame: (f) => frames.push(f), onExit: () => resolve() }).start();
    });
    return frames;
  }
  const redShare = (f: Buffer) => {
    let red = 0;
    for (let i = 0; i < f.length; i += 3) if (f[i]! > 180 && f[i + 2]! < 80) red++;
    return red / (f.length / 3);
  };

  it('real ffmpeg: with the view the model sees only that part of the screen, stretched to the frame', async () => {
    const frames = await decode(view);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const f of frames) expect(redShare(f)).toBeGreaterThan(0.95);
  });

  it('real ffmpeg: without a view the whole screen, the box a quarter of it', async () => {
    const frames = await decode(undefined);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const f of frames) expect(redShare(f)).toBeGreaterThan(0.2);
    for (const f of frames) expect(redShare(f)).toBeLessThan(0.3);
  });
});
