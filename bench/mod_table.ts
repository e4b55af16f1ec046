/**
 * "MoD, proven": one table comparing Mixture-of-Depths variants that were trained alike (same
 * start, data, steps, seed; `cli train --variant`). In one run it measures, for every package:
 *
 *   - decoder step p50/p95 in onnxruntime-node and as a ratio to the dense package, the packages
 *     taking turns in blocks of `--block` steps (default 20), so load on the machine hits them
 *     alike while each block runs with its own weights in the CPU caches, as a server running one
 *     package does; the same ratio turn by turn (`x dense, turn by turn`: each turn's p50 over
 *     dense's p50 in the same round, median and quartiles over the rounds, so load that comes and
 *     goes hits both sides of every ratio); and the same ratio with the packages alternating every
 *     single step (`x dense, alternating`), where each step first pulls its weights back in past
 *     the other packages';
 *   - with `--batch 1,4`, the ratio again with 4 streams of each package stepped in one batched
 *     call, per frame (what the engine does with several streams: the per-call cost is shared);
 *   - the same ratio in multiply-accumulates (`cli cost --package`, every layer attending over the
 *     slots the runtime gives it): what the step would cost if only arithmetic counted. The gap
 *     between the two is the per-call and per-operator cost MoD does not cut;
 *   - KV bytes per frame (from the manifest's shape);
 *   - training step time (bench/mod_variants.py --train-step, interleaved the same way);
 *   - commentary F1, QA (balanced over question kinds) and summary coverage on held-out streams
 *     through the toolkit's evaluator (`--ckpt` + `--heldout`), each at its package's threshold and
 *     with its temporal drop on or off as the runtime runs it by default (temporalRuleFor);
 *   - commentary F1 and QA through the real RTMP path on held-out broadcasts (`--broadcast`),
 *     every package pushed the same broadcast, `--rtmp-at-once` packages at a time (default 2).
 *
 *   npx tsx bench/mod_table.ts --pkg DIR --ckpt CKPT [--pkg DIR --ckpt CKPT ...] \
 *       [--heldout models/.cache/heldout_eval] [--broadcast FILE.mp4 ...] [--frames 200] [--train-data DIR] [--fixed-vision] [--threads N] [--batch B[,B2...]] [--block N] [--rtmp-at-once N]
 *
 * Packages and checkpoints pair up in order; the dense one (keepRatio 1) is the reference.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runDemo } from '../src/demo.ts';
import { cacheLimitsFor } from '../src/model/engine.ts';
import { KvCache } from '../src/model/kv_cache.ts';
import { Model } from '../src/model/model.ts';
import { scoreBroadcast, type Broadcast } from './evaluate.ts';
import { StreamContext } from '../src/model/stream_context.ts';
import { temporalRuleFor } from '../src/model/temporal_drop.ts';
import { fmt, pct, table } from './table.ts';

const { values } = parseArgs({
  options: {
    pkg: { type: 'string', multiple: true, default: [] },
    ckpt: { type: 'string', multiple: true, default: [] },
    heldout: { type: 'string' },
    broadcast: { type: 'string', multiple: true, default: [] },
    frames: { type: 'string', default: '200' },
    'train-data': { type: 'string', default: 'models/.cache/data' },
    'train-rounds': { type: 'string', default: '5' },
    /** onnxruntime intra-op threads for the step columns; 0 = the engine's default for this machine. */
    threads: { type: 'string', default: '0' },
    /** Streams per batched step: the first count for the step columns, every other one its own "x dense" column. */
    batch: { type: 'string', default: '1' },
    /** Time the training step of the decoder-only recipe (`cli train --fixed-vision`). */
    'fixed-vision': { type: 'boolean', default: false },
    /** How many packages are pushed a broadcast at the same time (each a whole kibitz in real time). */
    'rtmp-at-once': { type: 'string', default: '2' },
    /** Steps a package takes in a row before the next one's turn (the step columns). */
    block: { type: 'string', default: '20' },
  },
});
const pkgs = values.pkg!;
const ckpts = values.ckpt!;
if (pkgs.length === 0 || (ckpts.length > 0 && ckpts.length !== pkgs.length)) {
  console.error('usage: npx tsx bench/mod_table.ts --pkg DIR --ckpt CKPT [--pkg DIR --ckpt CKPT ...] [--heldout DIR] [--broadcast FILE ...]');
  process.exit(2);
}
const PY = process.env.KIBITZ_PYTHON ?? '/usr/bin/python3';
const pyEnv = { ...process.env, PYTHONPATH: 'models' };
const f2 = (x: number) => fmt(x, 2);

/** The variants.py name of a package's shape (deep2 = routed from layer 2 on; -rX = keep ratio X when not 0.2). */
function variantName(m: Model['manifest']): string {
  const d = m.decoder;
  if (d.keepRatio >= 1 || d.routedLayers.length === 0) return 'dense';
  const r = d.keepRatio === 0.2 ? '' : `-r${d.keepRatio}`;
  const from = d.routedLayers[0]!;
  const tail = d.routedLayers.every((l, i) => l === from + i) && d.routedLayers.at(-1) === d.layers - 1;
  if (tail) return (from === 1 ? 'deep' : `deep${from}`) + r;
  if (d.routedLayers.every((l) => l % 2 === 1)) return `interleaved${r}`;
  return `routed ${d.routedLayers.join(',')}${r}`;
}

// --- step latency, interleaved ---------------------------------------------------------------
const threading = Number(values.threads) > 0 ? { intraOp: Number(values.threads) } : {};
const models = await Promise.all(pkgs.map((dir) => Model.load({ packageDir: dir, provider: 'cpu', threading })));
const names = models.map((m) => variantName(m.manifest));
const frame = new Uint8Array(models[0]!.frameBytes).map((_, i) => (i * 2654435761) >>> 24);
// `--batch 1,4`: the step columns for B = the first count, and an "x dense" column for each other
// count: B streams stepped in one batched call (what the engine does with several streams of one
// package), timed per frame (call time / B).
const batches = values.batch!.split(',').map((b) => Math.max(1, Math.floor(Number(b)))).filter((b) => Number.isFinite(b));
if (batches.length === 0) throw new Error(`--batch ${values.batch}: give stream counts like 1 or 1,4`);
async function streamsOf(B: number) {
  return Promise.all(models.map(async (model) => {
    const m = model.manifest;
    const embeds = await model.encodeFrames([frame]);
    const items = [];
    for (let b = 0; b < B; b++) {
      const ctx = new StreamContext(`bench${b}`, model, { limits: cacheLimitsFor(model), maxResponseTokens: 16 });   // what the engine runs
      for (let i = 0; i < (m.cache?.windowFrames ?? 16); i++) await ctx.stepFrame(embeds);   // steady state: a full window
      items.push({ ctx, embeds });
    }
    return items;
  }));
}
type Streams = Awaited<ReturnType<typeof streamsOf>>;
/**
 * `frames` timed steps per package, `block` in a row per turn. Block 1 alternates every step:
 * each step then starts with the other packages' weights in the CPU caches, which inflates a small
 * model's step more than a large one's and never happens on a server that runs one package.
 */
async function timeSteps(contexts: Streams, block: number): Promise<{ times: number[][]; turns: number[][] }> {
  const frames = Number(values.frames);
  const B = contexts[0]!.length;
  const times = models.map(() => [] as number[]);
  const turns = models.map(() => [] as number[]);
  for (let done = 0; done < frames; done += block) {
    for (let k = 0; k < models.length; k++) {
      const turn: number[] = [];
      for (let j = 0; j < Math.min(block, frames - done); j++) {
        const t0 = performance.now();
        await StreamContext.stepFrames(models[k]!, contexts[k]!);
        turn.push((performance.now() - t0) / B);
      }
      times[k]!.push(...turn);
      turns[k]!.push(pct(turn, 50));
    }
  }
  return { times, turns };
}

/**
 * The step ratio turn by turn: each turn's p50 over the dense package's p50 in the same round
 * (steps a few ms apart), then the median and quartiles of those ratios. Load that comes and goes
 * on a shared machine adds the same milliseconds to both packages of a round, so it cannot bend
 * this ratio the way it bends a ratio of whole-run p50s; the quartiles say how far it still moves.
 */
function pairedRatio(turns: number[][], k: number, dense: number): { p25: number; p50: number; p75: number } {
  const r = turns[k]!.map((t, i) => t / turns[dense]![i]!);
  return { p25: pct(r, 25), p50: pct(r, 50), p75: pct(r, 75) };
}
const block = Math.max(1, Number(values.block));
const B = batches[0]!;
const contexts = await streamsOf(B);
const { times: stepTimes, turns } = await timeSteps(contexts, block);
const { times: alternating } = await timeSteps(contexts, 1);
const batchedP50 = new Map<number, number[]>();
for (const b of batches.slice(1)) batchedP50.set(b, (await timeSteps(await streamsOf(b), block)).times.map((t) => pct(t, 50)));
const denseIdx = names.indexOf('dense');
if (denseIdx < 0) console.error('no dense package (keepRatio 1) given: the "x dense" columns stay empty');
const p50 = stepTimes.map((t) => pct(t, 50));
const p50Alt = alternating.map((t) => pct(t, 50));
// What arithmetic alone would make each step cost: the toolkit's count of multiply-accumulates for
// the package's shape, every layer attending over the slots the runtime gives it (KvCache.capacities).
const macs = pkgs.map((dir, k) => {
  const r = spawnSync(PY, ['-m', 'kibitz_models.cli', 'cost', '--package', dir, '--context', contexts[k]![0]!.ctx.cache.capacities.join(',')], { env: pyEnv, encoding: 'utf8' });
  if (r.status !== 0) console.error(`cost of ${dir} failed: ${r.stderr.slice(-400)}`);
  return r.status === 0 ? (JSON.parse(r.stdout) as { macs: number }).macs : NaN;
});
await Promise.all(models.map((m) => m.close()));

// --- training step time ------------------------------------------------------------------------
let trainStep: Record<string, { p50_s: number; p95_s: number }> = {};
if (ckpts.length > 0) {
  const r = spawnSync(PY, ['bench/mod_variants.py', '--train-step', '--checkpoint', ckpts[0]!, '--data', values['train-data']!, '--rounds', values['train-rounds']!, ...(values['fixed-vision'] ? ['--fixed-vision'] : [])], { env: pyEnv, encoding: 'utf8' });
  if (r.status === 0) trainStep = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  else console.error(`training-step timing failed: ${r.stderr.slice(-400)}`);
}

// --- quality through the toolkit's evaluator on held-out streams (two at a time, one thread each) --
type PyEval = { commentary: { f1: number }; qa_balanced: number; qa_overall: number; summary_coverage: number };
/** Each checkpoint is scored at its package's decision threshold and with its temporal drop on or off, as the runtime runs it by default. */
function evaluate(ckpt: string, threshold: number, temporal: 'on' | 'off'): Promise<PyEval | null> {
  return new Promise((resolve) => {
    const child = spawn(PY, ['-m', 'kibitz_models.cli', 'evaluate', '--checkpoint', ckpt, '--data', values.heldout!, '--threads', '1', '--threshold', String(threshold), '--temporal', temporal], { env: pyEnv });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) console.error(`evaluate ${ckpt} failed: ${err.slice(-400)}`);
      resolve(code === 0 ? (JSON.parse(out.slice(out.indexOf('{'))) as PyEval) : null);
    });
  });
}
const pyEval: (PyEval | null)[] = ckpts.map(() => null);
const thresholds = models.map((m) => m.manifest.decision?.threshold ?? 0.5);
const temporal = models.map((m) => (temporalRuleFor(m.manifest, 'auto') ? 'on' : 'off') as 'on' | 'off');
if (values.heldout) {
  let next = 0;
  const worker = async () => {
    while (next < ckpts.length) {
      const k = next++;
      pyEval[k] = await evaluate(ckpts[k]!, thresholds[k]!, temporal[k]!);
    }
  };
  await Promise.all([worker(), worker()]);
}

// --- quality over RTMP: every package gets the same broadcast at the same time ----------------
const atOnce = Math.max(1, Number(values['rtmp-at-once']));
const rtmp = pkgs.map(() => ({ f1: [] as number[], correct: 0, asked: 0, seen: 0, skipped: 0 }));
for (const file of values.broadcast!) {
  const truth = JSON.parse(readFileSync(file.replace(/\.mp4$/, '.json'), 'utf8')) as Broadcast;
  // Every package gets the broadcast; `--rtmp-at-once` of them at a time (each run is its own
  // kibitz with ffmpeg pushing and decoding in real time: six at once on two cores lag by
  // seconds and score far under their own solo runs, with no frame skipped).
  const results: Awaited<ReturnType<typeof runDemo>>[] = [];
  for (let i = 0; i < pkgs.length; i += atOnce) {
    results.push(...await Promise.all(pkgs.slice(i, i + atOnce).map((dir) => runDemo({ file, packageDir: dir, questions: truth.qa.map((q) => ({ atMs: q.t * 1000, question: q.question })), out: () => {} }))));
  }
  results.forEach((res, k) => {
    rtmp[k]!.seen += res.framesProcessed;
    rtmp[k]!.skipped += res.framesSkipped;
    const score = scoreBroadcast(truth, res.events);
    rtmp[k]!.f1.push(score.commentary.f1);
    for (const v of Object.values(score.answers.byKind)) {
      rtmp[k]!.correct += v.correct;
      rtmp[k]!.asked += v.n;
    }
  });
  console.error(`rtmp: ${path.basename(file)} done`);
}

const pairedCell = (k: number) => {
  const r = pairedRatio(turns, k, denseIdx);
  return `${f2(r.p50)} (${f2(r.p25)}-${f2(r.p75)})`;
};
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
table(
  ['package', 'variant', 'routed', 'keep', 'step p50 ms', 'step p95 ms', 'x dense', 'x dense, turn by turn (p25-p75)', 'x dense, alternating', ...[...batchedP50.keys()].map((b) => `x dense, ${b} streams batched`), 'MACs x dense', 'KV KiB/frame', 'train step s', 'F1 (eval)', 'QA bal (eval)', 'summary cov', 'F1 (RTMP)', 'QA (RTMP)', 'frames seen/skipped'],
  models.map((model, k) => {
    const m = model.manifest;
    const ev = pyEval[k];
    const ts = trainStep[names[k]!];
    return [m.name, names[k]!, `${m.decoder.routedLayers.length}/${m.decoder.layers}`, String(m.decoder.keepRatio), fmt(p50[k]!, 2), fmt(pct(stepTimes[k]!, 95), 2),
      denseIdx >= 0 ? f2(p50[k]! / p50[denseIdx]!) : '-', denseIdx >= 0 ? pairedCell(k) : '-', denseIdx >= 0 ? f2(p50Alt[k]! / p50Alt[denseIdx]!) : '-', ...[...batchedP50.values()].map((p) => (denseIdx >= 0 ? f2(p[k]! / p[denseIdx]!) : '-')), denseIdx >= 0 ? f2(macs[k]! / macs[denseIdx]!) : '-', (KvCache.kvBytesPerFrame(m) / 1024).toFixed(1), ts ? fmt(ts.p50_s, 2) : '-',
      ev ? f2(ev.commentary.f1) : '-', ev ? f2(ev.qa_balanced) : '-', ev ? f2(ev.summary_coverage) : '-',
      values.broadcast!.length ? f2(mean(rtmp[k]!.f1)) : '-', rtmp[k]!.asked ? `${f2(rtmp[k]!.correct / rtmp[k]!.asked)} (${rtmp[k]!.correct}/${rtmp[k]!.asked})` : '-', `${rtmp[k]!.seen}/${rtmp[k]!.skipped}`];
  }),
);
console.log(`\n${values.frames} timed steps per package in turns of ${block} (and again alternating every step), ${B} stream(s) per batched step${batches.length > 1 ? ` (also ${batches.slice(1).join(', ')})` : ''} (intra-op threads: ${Number(values.threads) || 'engine default'}), full ${models[0]!.manifest.cache?.windowFrames ?? 16}-frame window; held-out streams: ${values.heldout ?? 'none'}; RTMP broadcasts: ${values.broadcast!.length}`);
