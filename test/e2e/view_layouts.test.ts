import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scoreCommentary, type Broadcast } from '../../bench/evaluate.ts';
import { runDemo } from '../../src/demo.ts';
import { resolveFfmpeg } from '../../src/ffmpeg.ts';
import { cropPixels } from '../../src/view/search.ts';

/**
 * The streamer's canvas is not the recording's: the chess sample pushed over RTMP in four
 * layouts, three with the game at its recorded size (a moved window, the common case) — as
 * recorded; moved 200 px right; on a 1080p canvas beside a webcam and a chat box — and one with
 * the whole recording shrunk to 0.6x in the corner of a 1080p canvas. kibitz finds the board (the
 * view search, src/view/): at its recorded size it cuts it exactly as in training; scaled, it
 * finds it to a fraction of a pixel and scales it back before the cut. Then it talks. Measured on
 * the whole sample (bench/broadcast.ts): F1 0.78-0.95, QA 8/9 in each (models/EXPERIMENTS.md
 * "New games and scaled layouts").
 */
const SAMPLE = 'models/samples/chess/broadcast1.mp4';
const PACKAGE = 'models/kibitz-chess';
const SECONDS = 40;
const manifest = JSON.parse(readFileSync(path.join(PACKAGE, 'manifest.json'), 'utf8'));
const [NW, NH] = manifest.frame.reference.native as [number, number];
/** Where ffmpeg's crop cuts the package's view of the 1280x720 recording (rounded, then even). */
const X0 = 346, Y0 = 44;
const full = JSON.parse(readFileSync(SAMPLE.replace(/\.mp4$/, '.json'), 'utf8')) as Broadcast;
const truth: Broadcast = { ...full, seconds: SECONDS, events: full.events.filter((e) => e.t < SECONDS - 2), qa: [] };

const LAYOUTS = [
  { name: 'as recorded', canvas: [1280, 720], at: [X0, Y0], scale: 1, filter: null },
  { name: 'moved 200 px right', canvas: [1280, 720], at: [X0 + 200, Y0], scale: 1, filter: '[0]pad=1480:720:200:0:color=0x202428,crop=1280:720:0:0' },
  { name: '1080p canvas, webcam and chat box', canvas: [1920, 1080], at: [60 + X0, 180 + Y0], scale: 1,
    filter: 'color=c=0x1e1e28:s=1920x1080:r=30[bg];testsrc2=s=480x270:r=30[cam];color=c=0x6441a5:s=400x560:r=30[chat];' +
      '[bg][0]overlay=60:180:shortest=1[a];[a][cam]overlay=1400:40:shortest=1[b];[b][chat]overlay=1480:480:shortest=1' },
  { name: '0.6x in the corner of a 1080p canvas, webcam', canvas: [1920, 1080], at: [1152 + X0 * 0.6, 648 + Y0 * 0.6], scale: 0.6,
    filter: 'color=c=0x303040:s=1920x1080:r=30[bg];testsrc2=s=480x270:r=30[cam];[0]scale=768:432[s];' +
      '[bg][s]overlay=1152:648:shortest=1[a];[a][cam]overlay=20:20:shortest=1' },
] as const;

describe('the board anywhere on the canvas: chess over RTMP in four layouts', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-layouts-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(LAYOUTS)('$name: finds the board, cuts it as trained (scaled back first when scaled), and talks', async (layout) => {
    const ffmpeg = await resolveFfmpeg({});
    const file = path.join(dir, `${layout.name.replace(/\W+/g, '_')}.mp4`);
    const args = ['-v', 'error', '-y', '-t', String(SECONDS), '-i', SAMPLE];
    if (layout.filter) args.push('-filter_complex', layout.filter);
    execFileSync(ffmpeg.path, [...args, '-t', String(SECONDS), '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '6000k', '-g', '60', '-pix_fmt', 'yuv420p', '-an', file]);

    const res = await runDemo({ file, questions: [], out: () => {}, packageDir: PACKAGE });
    const lines = res.events.filter((e) => e.kind === 'commentary');
    const c = scoreCommentary(truth.events, lines, SECONDS);
    const [W, H] = layout.canvas;
    const v = res.view!;
    // The pixels ffmpeg's crop cuts for that view (src/view/search.ts cropPixels; test/decode/view_move checks them byte for byte).
    const r = cropPixels(v.view!, W, H);
    const px = [r.x, r.y, r.w, r.h];
    console.log(`layout "${layout.name}": view ${JSON.stringify(v)} = px ${px}; ${lines.length} lines, F1 ${c.f1.toFixed(2)} (P ${c.precision.toFixed(2)} R ${c.recall.toFixed(2)}), first line at ${res.firstLineMs} ms`);
    expect(v.state).toBe('found');
    if (layout.scale === 1) {
      // Exactly the trained crop, moved: the recorded size, at the board's place.
      expect(px).toEqual([layout.at[0], layout.at[1], NW, NH]);
    } else {
      // To a fraction of a pixel (a pixel of the package's own off costs it 6-9 F1 points).
      const [x, y, w, h] = v.view!.map((f, i) => f * (i % 2 ? H : W));
      expect(Math.abs(x! - layout.at[0])).toBeLessThan(0.4);
      expect(Math.abs(y! - layout.at[1])).toBeLessThan(0.4);
      expect(Math.abs(w! / (NW * layout.scale) - 1)).toBeLessThan(0.003);
      expect(Math.abs(h! / (NH * layout.scale) - 1)).toBeLessThan(0.003);
    }
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(c.f1).toBeGreaterThanOrEqual(0.5);
  }, 180_000);
});
