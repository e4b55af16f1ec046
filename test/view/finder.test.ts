import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CanvasAssembler } from '../../src/decode/canvas_assembler.ts';
import { ViewFinder } from '../../src/view/finder.ts';
import { resizeGrey, type Grey } from '../../src/view/resample.ts';
import { loadViewReference } from '../../src/view/reference.ts';
import { cropPixels, searchView, type ViewReference } from '../../src/view/search.ts';
import type { FrameView } from '../../src/decode/filter.ts';

/**
 * The view search on real pixels: the chess package's reference (made from recordings 301/302)
 * against a frame of the shipped sample (seed 101, another game), placed on bigger canvases the
 * way a streamer's layout places a game window.
 */
const manifest = JSON.parse(readFileSync('models/kibitz-chess/manifest.json', 'utf8'));
let ref: ViewReference;
let frame: Grey;
/** ffmpeg's 4:2:0 crop of a view on a W x H canvas, in pixels. */
const cropPx = (v: FrameView, W: number, H: number) => Object.values(cropPixels(v, W, H));

function canvas(W: number, H: number, fill = 40): Grey {
  return { width: W, height: H, data: new Float32Array(W * H).fill(fill) };
}
function place(dst: Grey, src: Grey, x: number, y: number): Grey {
  for (let j = 0; j < src.height; j++) dst.data.set(src.data.subarray(j * src.width, (j + 1) * src.width), (y + j) * dst.width + x);
  return dst;
}

beforeAll(() => {
  ref = loadViewReference({ ...manifest.frame.reference, file: 'models/kibitz-chess/' + manifest.frame.reference.file });
  const pgm = execFileSync('ffmpeg', ['-v', 'error', '-ss', '30', '-i', 'models/samples/chess/broadcast1.mp4', '-frames:v', '1', '-vf', 'format=gray', '-f', 'image2pipe', '-c:v', 'pgm', '-']);
  const [p] = new CanvasAssembler().push(pgm);
  frame = { width: p!.width, height: p!.height, data: Float32Array.from(p!.data) };
});

describe('view search', () => {
  it('finds a game window moved on a 1080p canvas and cuts it to the trained pixels', async () => {
    const c = place(canvas(1920, 1080), frame, 100, 200);
    const found = (await searchView(c, ref))!;
    expect(found.native).toBe(true);
    expect(cropPx(found.view, 1920, 1080)).toEqual([346 + 100, 44 + 200, ...ref.native!]);
    expect(found.score).toBeGreaterThan(0.5);
  });

  it('finds a scaled window to a fraction of a pixel and of a percent of its size', async () => {
    const small = resizeGrey(frame, { x: 0, y: 0, w: 1280, h: 720 }, 960, 540); // 0.75x
    const c = place(canvas(1280, 720), small, 300, 150);
    const found = (await searchView(c, ref))!;
    expect(found.native).toBe(false);
    const [x, y, w, h] = found.view.map((v, i) => v * (i % 2 ? 720 : 1280));
    // the package's picture (its trained crop, 346,44 588x660 of the 1280x720 frame) at 0.75x; a
    // pixel of the package's own off costs it 6-9 F1 points, a third of one little
    expect(Math.abs(x! - (300 + 346 * 0.75))).toBeLessThan(0.25);
    expect(Math.abs(y! - (150 + 44 * 0.75))).toBeLessThan(0.25);
    expect(Math.abs(w! / (588 * 0.75) - 1)).toBeLessThan(0.002);
    expect(Math.abs(h! / (660 * 0.75) - 1)).toBeLessThan(0.002);
  });
});

describe('ViewFinder', () => {
  it('follows the window when it moves, stays put while it does not, and backs off while nothing matches', async () => {
    const finder = new ViewFinder(ref, manifest.frame.view, { ...(await import('../../src/view/finder.ts')).DEFAULT_FINDER, recheckMs: 60_000, backoffMs: 2000, maxBackoffMs: 8000 });
    const empty = canvas(1280, 720);
    // nothing on screen: a search at once, then again after 2 s, 4 s, 8 s, 8 s
    const searchesAt: number[] = [];
    for (let t = 0; t <= 24_000; t += 1000) {
      const before = finder.status().searches;
      expect(await finder.observe(empty, t)).toBeNull();
      if (finder.status().searches > before) searchesAt.push(t);
    }
    expect(searchesAt).toEqual([0, 2000, 6000, 14_000, 22_000]);
    expect(finder.state).toBe('searching');

    // the game appears 200 px right of where the package expects it: found, one move
    const right = place(canvas(1280, 720), cropFrame(frame, 0, 0, 1080, 720), 200, 0);
    const v = await finder.observe(right, 30_000);
    expect(v).not.toBeNull();
    finder.moved(v!.view, 30_000);
    expect(v!.toSize).toBeUndefined(); // at its recorded size: cut as trained, nothing scaled
    expect(cropPx(v!.view, 1280, 720)).toEqual([546, 44, ...ref.native!]);
    expect(finder.status()).toMatchObject({ from: 'search', state: 'found', foundAtMs: 30_000 });
    // where it is: checked, not searched
    const n = finder.status().searches;
    expect(await finder.observe(right, 31_000)).toBeNull();
    expect(finder.status().searches).toBe(n);
    // the window goes back: lost at once, found again
    const back = place(canvas(1280, 720), frame, 0, 0);
    const v2 = await finder.observe(back, 32_000);
    expect(cropPx(v2!.view, 1280, 720)).toEqual([346, 44, ...ref.native!]);
  });
});

/** The left `w` x `h` of a picture (so it fits when moved right). */
function cropFrame(g: Grey, x: number, y: number, w: number, h: number): Grey {
  const out = canvas(w, h);
  for (let j = 0; j < h; j++) out.data.set(g.data.subarray((y + j) * g.width + x, (y + j) * g.width + x + w), j * w);
  return out;
}
