/**
 * What the view search costs and finds, per layout: each video is decoded twice as fast as
 * ffmpeg goes, once with the package's fixed view and once in search mode with a ViewFinder
 * wired as a stream's session wires it (src/stream/publish.ts), and the table puts the found
 * view, when it was found (the stream time of the canvas the search that found it read), the
 * searches and the CPU they took side by side.
 *
 *   npx tsx bench/view_search.ts [--package models/kibitz-chess] [--native W,H,X,Y ...] FILE.mp4 ...
 *
 * `--native X,Y,W,H` per file (same order; "-" for none): the crop ffmpeg cuts the package's
 * picture with at its recorded size, in source pixels, to say whether the found view is exact. CPU is ffmpeg's (user + system,
 * from /proc) and the search's (the slices it held the event loop), per minute of video.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Decoder } from '../src/decode/decoder.ts';
import type { FrameView } from '../src/decode/filter.ts';
import { resolveFfmpeg } from '../src/ffmpeg.ts';
import { DEFAULT_CANVAS } from '../src/stream/publish.ts';
import { ViewFinder } from '../src/view/finder.ts';
import { cropPixels } from '../src/view/search.ts';
import { loadViewReference } from '../src/view/reference.ts';
import { fmt, table } from './table.ts';

const { values: opts, positionals: files } = parseArgs({ allowPositionals: true, options: { package: { type: 'string', default: 'models/kibitz-chess' }, native: { type: 'string', multiple: true } } });
const pkg = opts.package!;
const manifest = JSON.parse(readFileSync(path.join(pkg, 'manifest.json'), 'utf8'));
const refSpec = manifest.frame.reference;
if (!refSpec) throw new Error(`${pkg} has no frame.reference: make one with \`cli view-reference\``);
const ref = loadViewReference({ ...refSpec, file: path.join(pkg, refSpec.file) });
const ffmpeg = await resolveFfmpeg({});
const fps = manifest.frame.fps as number;

/** ffmpeg's user + system CPU seconds so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

async function run(file: string, search: boolean) {
  const initial: FrameView = manifest.frame.view ?? [0, 0, 1, 1];
  const finder = search ? new ViewFinder(ref, initial) : null;
  let cpu = 0, frames = 0, checkMs = 0, checks = 0, canvasW = 0, canvasH = 0;
  let firstFoundS: number | null = null;
  let view: FrameView = initial;
  let chain = Promise.resolve();
  await new Promise<void>((resolve) => {
    const d: Decoder = new Decoder({ ffmpeg, input: { label: 'file', args: ['-i', file] }, fps, width: manifest.frame.width, height: manifest.frame.height, view: initial,
      ...(search ? { search: { canvas: DEFAULT_CANVAS, fit: manifest.frame.view ? 'stretch' as const : 'letterbox' as const } } : {}) }, {
      onFrame: () => {
        frames++;
        if (d.pid) cpu = Math.max(cpu, cpuSeconds(d.pid));
      },
      // Canvases are observed one after another, each at its own stream time, as in a live
      // stream (here ffmpeg runs faster than real time, and a busy finder would skip them).
      onCanvas: (picture, i) => {
        canvasW = picture.width;
        canvasH = picture.height;
        chain = chain.then(async () => {
          const t0 = performance.now();
          const before = finder!.status().searches;
          const v = await finder!.observe(picture, i * 1000);
          if (finder!.status().searches === before) { checkMs += performance.now() - t0; checks++; }
          if (v) {
            await d.moveView(v.view, v.toSize).catch(() => {}); // the file may end first
            finder!.moved(v.view, i * 1000);
            view = v.view;
          }
          if (finder!.state === 'found' && firstFoundS === null) firstFoundS = i;
        });
      },
      onExit: () => void chain.then(() => resolve()),
    });
    d.start();
  });
  return { cpu, frames, checkMs: checks ? checkMs / checks : NaN, status: finder?.status(), firstFoundS, view, canvas: [canvasW, canvasH] };
}

const rows: (string | number)[][] = [];
for (const [i, file] of files.entries()) {
  const fixed = await run(file, false);
  const found = await run(file, true);
  const minutes = fixed.frames / fps / 60;
  const [W, H] = found.canvas as [number, number];
  const r = cropPixels(found.view, W, H);
  const px = [r.x, r.y, r.w, r.h];
  const want = opts.native?.[i];
  const exact = !want || want === '-' ? '-' : want.split(',').map(Number).every((v, k) => px[k] === v) ? 'yes' : 'no';
  const s = found.status!;
  const searchPct = (s.searchMs / 1000 / (minutes * 60)) * 100;
  rows.push([path.basename(file), `${W}x${H}`, `${px[0]},${px[1]} ${px[2]}x${px[3]}`, exact, fmt(s.score ?? NaN, 2),
    found.firstFoundS ?? '-', fmt(s.searches / minutes, 1), fmt(s.searchMs / Math.max(1, s.searches), 0), fmt(found.checkMs, 1),
    fmt(fixed.cpu / minutes, 1), fmt(found.cpu / minutes, 1), fmt(searchPct + ((found.cpu - fixed.cpu) / (minutes * 60)) * 100, 1)]);
}
console.log(`view search with ${pkg} (reference ${ref.grey.width}x${ref.grey.height}, aspect ${ref.aspect}${ref.native ? `, native ${ref.native.join('x')}` : ''}); canvas ${DEFAULT_CANVAS.fps}/s up to ${DEFAULT_CANVAS.maxWidth} wide`);
table(['video', 'canvas', 'found view (px)', 'exact', 'NCC', 'found at s', 'searches/min', 'ms/search', 'check ms/canvas', 'ffmpeg CPU s/min fixed', 'search mode', 'search cost % of a core'], rows);
