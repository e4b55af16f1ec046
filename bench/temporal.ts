/**
 * Temporal token drop: what it saves on real frames. Decodes the sample broadcasts at the model's
 * fps (the service's filter chain) and steps, frame by frame and side by side (so load on the
 * machine hits every column alike):
 *
 *   - the package with `temporal`, the drop on (the engine's rule; its cost counted in the step);
 *   - the same package with every token fed (the drop off);
 *   - a dense export (keepRatio 1, every token through every layer): the reference, "x dense".
 *
 * Prints tokens fed per frame, share skipped, token-layers per frame (tokens through each decoder
 * layer, summed: a machine-independent cost), decoder step p50/p95 (timed once the cache window
 * is full) and the p50 ratio to dense.
 *
 *   npx tsx bench/temporal.ts --pkg models/.cache/pkgs/ttd --dense models/.cache/pkgs/dense [--threads 1] [--rounds 2] [--streams 8]
 *
 * With `--streams B`, B streams step together the way the engine batches them: only rows feeding
 * the same number of tokens share a decoder call (calls/tick counts them).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { frameFilter } from '../src/decode/filter.ts';
import { cacheLimitsFor } from '../src/model/engine.ts';
import { Model } from '../src/model/model.ts';
import { StreamContext } from '../src/model/stream_context.ts';
import { gatherTokens, TokenDrop } from '../src/model/temporal_drop.ts';
import { fmt, pct, table } from './table.ts';

const { values } = parseArgs({
  options: {
    pkg: { type: 'string', default: 'models/.cache/pkgs/ttd' },
    dense: { type: 'string', default: 'models/.cache/pkgs/dense' },
    samples: { type: 'string', default: 'models/samples' },
    /** onnxruntime intra-op threads; 0 = the engine's default for this machine. */
    threads: { type: 'string', default: '0' },
    /** Passes over the broadcasts (more timed steps). */
    rounds: { type: 'string', default: '1' },
    /** Streams stepped together per frame (the engine batches rows of equal token count). */
    streams: { type: 'string', default: '1' },
  },
});
const threading = Number(values.threads) > 0 ? { intraOp: Number(values.threads) } : {};
const [ttd, dense] = await Promise.all([values.pkg!, values.dense!].map((dir) => Model.load({ packageDir: dir, provider: 'cpu', threading })));
const rule = ttd!.manifest.temporal;
if (!rule) throw new Error(`${values.pkg} has no temporal block in manifest.json: export a checkpoint trained with \`cli train --temporal\``);
if (dense!.manifest.decoder.keepRatio < 1) console.error(`warning: ${values.dense} is not dense (keepRatio ${dense!.manifest.decoder.keepRatio})`);
const { width, height, fps } = ttd!.manifest.frame;
const V = ttd!.manifest.vision.tokensPerFrame;

function decode(file: string): Uint8Array[] {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', file, '-vf', frameFilter(fps, width, height), '-f', 'rawvideo', '-'], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`could not decode ${file}: ${r.stderr?.toString()}`);
  const size = width * height * 3;
  return Array.from({ length: Math.floor(r.stdout.length / size) }, (_, i) => new Uint8Array(r.stdout.buffer, r.stdout.byteOffset + i * size, size));
}

/** Tokens through each decoder layer for a frame of n tokens (routed layers keep min(k, n)). */
function tokenLayers(m: Model['manifest'], n: number): number {
  const routed = new Set(m.decoder.routedLayers);
  let sum = 0;
  for (let l = 0; l < m.decoder.layers; l++) sum += routed.has(l) ? Math.min(m.decoder.keptPerFrame, n) : n;
  return sum;
}

interface Column {
  name: string;
  model: Model;
  drop: boolean;
  /** Per frame (a call's time / streams in it), once the cache window is full. */
  steps: number[];
  rule: number[];
  fed: number;
  frames: number;
  tokenLayers: number;
  /** Decoder calls made (with several streams: one per group of equal token counts). */
  calls: number;
}
const columns: Column[] = [
  { name: `${ttd!.manifest.name}, drop on`, model: ttd!, drop: true },
  { name: `${ttd!.manifest.name}, drop off`, model: ttd!, drop: false },
  { name: `${dense!.manifest.name} (dense)`, model: dense!, drop: false },
].map((c) => ({ ...c, steps: [], rule: [], fed: 0, frames: 0, tokenLayers: 0, calls: 0 }));

const files = readdirSync(values.samples!).filter((f) => f.endsWith('.mp4')).sort().map((f) => `${values.samples}/${f}`);
const sources = files.map(decode);
// `--streams B`: B streams stepped together as the engine does (rows of equal token count share a
// call); stream k plays broadcast k mod S from a frame offset of its own
const B = Math.max(1, Number(values.streams));
const play = Array.from({ length: B }, (_, k) => ({
  // fewer streams than broadcasts: a stream plays several back to back (one stream plays them all)
  src: B < sources.length ? sources.filter((_, j) => j % B === k).flat() : sources[k % sources.length]!,
  offset: Math.floor(k / sources.length) * 41,
}));
const ticks = Math.min(...play.map((p) => p.src.length)) * Number(values.rounds);
const windowFrames = cacheLimitsFor(ttd!).windowFrames;
const grid = ttd!.manifest.vision.grid!;
const state = columns.map((c) => play.map((_, k) => ({
  ctx: new StreamContext(`s${k}`, c.model, { limits: cacheLimitsFor(c.model), maxResponseTokens: 16 }),
  drop: c.drop ? new TokenDrop(rule, width, height, grid) : null,
})));
for (let i = 0; i < ticks; i++) {
  const pics = play.map((p) => p.src[(p.offset + i) % p.src.length]!);
  const embeds = await Promise.all([ttd!, dense!].map((m) => m.encodeFrames(pics)));
  for (let j = 0; j < columns.length; j++) {
    const k = (i + j) % columns.length; // who goes first (just after the vision runs) rotates
    const c = columns[k]!;
    const d = c.model.manifest.decoder.dModel;
    const all = embeds[c.model === ttd ? 0 : 1]!;
    const rows = play.map((_, b) => all.slice(b * V * d, (b + 1) * V * d));
    const t0 = performance.now();
    const fed = state[k]!.map((s, b) => s.drop?.step(pics[b]!) ?? null);
    const t1 = performance.now();
    const items = state[k]!.map((s, b) => ({ ctx: s.ctx, embeds: fed[b] ? gatherTokens(rows[b]!, fed[b]!, V, d) : rows[b]! }));
    const groups = new Map<number, typeof items>();
    for (const it of items) groups.set(it.embeds.length, [...(groups.get(it.embeds.length) ?? []), it]);
    for (const g of groups.values()) await StreamContext.stepFrames(c.model, g);
    const t2 = performance.now();
    for (const f of fed) {
      const n = f?.length ?? V;
      c.fed += n;
      c.frames++;
      c.tokenLayers += tokenLayers(c.model.manifest, n);
    }
    if (i >= windowFrames) {
      c.steps.push((t2 - t0) / B); // the rule is part of the frame's cost
      c.rule.push((t1 - t0) / B);
      c.calls += groups.size;
    }
  }
}
await Promise.all([ttd!.close(), dense!.close()]);

const denseCol = columns[2]!;
const f2 = (x: number) => fmt(x, 2);
table(
  ['package', 'tokens fed/frame', 'skipped', 'token-layers/frame', 'x dense (token-layers)', 'step p50 ms', 'step p95 ms', 'rule p50 ms', 'x dense (p50)', 'calls/tick'],
  columns.map((c) => [
    c.name, fmt(c.fed / c.frames, 1), `${fmt(100 * (1 - c.fed / (c.frames * V)), 1)}%`, fmt(c.tokenLayers / c.frames, 1),
    f2(c.tokenLayers / c.frames / (denseCol.tokenLayers / denseCol.frames)), f2(pct(c.steps, 50)), f2(pct(c.steps, 95)),
    c.drop ? f2(pct(c.rule, 50)) : '-', f2(pct(c.steps, 50) / pct(denseCol.steps, 50)), fmt(c.calls / Math.max(1, c.steps.length), 1),
  ]),
);
console.log(`\n${files.length} sample broadcasts, ${B} stream(s) stepped together, ${ticks} frames each (${columns[0]!.steps.length} timed per column: the cache window full); step = rule + decoder calls, per frame; columns interleaved frame by frame; intra-op threads: ${Number(values.threads) || 'engine default'}`);
