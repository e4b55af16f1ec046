/**
 * Knows what it doesn't know (issue 12): what the bundled model says on content it was never
 * trained on, before (no in-world score, no guards: every line the model generates) and after
 * (what the engine publishes), and what it costs. Frames come from the toolkit's held-out clips
 * (`cli outworld --split heldout|heldout_x`, `cli data --first-seed 610000`), decoded with the
 * service's chain; they go straight into the engine, one frame at a time, never skipped.
 *
 *   npx tsx bench/outworld.ts [--pkg models/kibitz-demo] [--out-dir DIR] [--in-dir DIR] [--ask-every 20]
 *
 * For in-world quality over the real RTMP path use `npx tsx bench/broadcast.ts`.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { EventBus } from '../src/bus.ts';
import type { KibitzEvent } from '../src/events.ts';
import { ModelEngine, type ObservedLine } from '../src/model/engine.ts';
import { scoreCommentary, type TruthEvent } from './evaluate.ts';
import { checkLine, DEFAULT_LINE_GUARD_RULES } from '../src/model/line_guard.ts';
import { Model } from '../src/model/model.ts';
import { readFramesNpy } from '../models/scripts/npy.ts';
import { fmt, table } from './table.ts';

const { values } = parseArgs({
  options: {
    pkg: { type: 'string', default: 'models/kibitz-demo' },
    'out-dir': { type: 'string', default: 'models/.cache/world/out_heldout' },
    'in-dir': { type: 'string', default: 'models/.cache/world/in_heldout' },
    'ask-every': { type: 'string', default: '20' },
  },
});
const ASK_EVERY = Number(values['ask-every']);
const QUESTION = 'what is the score?';
const log = pino({ level: 'error' });

interface ClipResult { lines: number; answers: string[]; outFrames: number; frames: number; published: KibitzEvent[]; observed: ObservedLine[] }

/** The package without its in-world score and with no guard limits: how kibitz behaved before. */
function withoutWorld(pkg: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-noworld-'));
  cpSync(pkg, dir, { recursive: true });
  const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  delete m.world;
  delete m.guards;
  delete m.files?.world;
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  rmSync(path.join(dir, 'world.onnx'), { force: true });
  return dir;
}

async function runClip(engine: ModelEngine, bus: EventBus, observed: ObservedLine[], name: string, frames: Uint8Array[], w: number, h: number): Promise<ClipResult> {
  const published: KibitzEvent[] = [];
  const off = bus.subscribe((e) => void published.push(e), { stream: name });
  const firstObserved = observed.length;
  engine.open(name);
  const answers: string[] = [];
  for (let i = 0; i < frames.length; i++) {
    // the clips were decoded for this package (through its view, if it has one: `cli view-frames`)
    await engine.offerAndWait({ stream: name, seq: i, streamTimeMs: i * 500, width: w, height: h, view: engine.frameView, data: frames[i]!, decodedAt: performance.now() });
    if (i % ASK_EVERY === ASK_EVERY - 1) answers.push((await engine.ask({ stream: name, question: QUESTION })).answer);
  }
  const st = engine.stats(name)!;
  const res = { lines: st.lines, answers, outFrames: st.framesOutOfWorld, frames: frames.length, published, observed: observed.slice(firstObserved) };
  engine.end(name);
  off();
  return res;
}

const degenerate = (text: string) =>
  checkLine('answer', { text, ids: text.split(/\s+/).map((_, i) => i), meanLogprob: 0, finished: true }, { ...DEFAULT_LINE_GUARD_RULES, maxTokens: { commentary: 32, answer: 24, summary: 48 } }) !== null;

function clipsIn(dir: string): { family: string; file: string }[] {
  if (!existsSync(dir)) throw new Error(`${dir} not found: build it with the toolkit (models/README.md, "Knowing its world")`);
  return readdirSync(dir).filter((f) => f.endsWith('.npy') && !f.includes('.tmp') && !f.includes('.emb-')).sort()
    .map((f) => ({ family: f.replace(/_\d+\.npy$/, '').replace(/^\d+\.npy$/, 'in-world'), file: path.join(dir, f) }));
}

async function variant(pkgDir: string, label: string) {
  const model = await Model.load({ packageDir: pkgDir });
  const bus = new EventBus();
  const observed: ObservedLine[] = [];
  const engine = new ModelEngine(model, bus, log, { observeLine: (l) => void observed.push(l) });
  const perFamily = new Map<string, { minutes: number; linesBefore: number; linesAfter: number; answers: string[]; answersBefore: string[]; out: number; frames: number }>();
  const inWorld: { f1Before: number; f1After: number; minutes: number; linesBefore: number; linesAfter: number; out: number; frames: number }[] = [];
  for (const dir of [values['out-dir'], values['in-dir']]) {
    for (const { family, file } of clipsIn(dir)) {
      const { frames, width, height } = readFramesNpy(file);
      const r = await runClip(engine, bus, observed, `${label}-${path.basename(file)}`, frames, width, height);
      const generated = r.observed.filter((l) => l.kind === 'commentary');
      const minutes = frames.length / 2 / 60;
      const answersBefore = r.observed.filter((l) => l.kind === 'answer').map((l) => l.text);
      if (family === 'in-world') {
        const truth = JSON.parse(readFileSync(file.replace(/\.npy$/, '.json'), 'utf8')) as { events: TruthEvent[]; seconds: number };
        const said = r.published.filter((e) => e.kind === 'commentary');
        inWorld.push({
          f1Before: scoreCommentary(truth.events, generated, truth.seconds).f1, f1After: scoreCommentary(truth.events, said, truth.seconds).f1,
          minutes, linesBefore: generated.length, linesAfter: said.length, out: r.outFrames, frames: r.frames,
        });
        continue;
      }
      const f = perFamily.get(family) ?? { minutes: 0, linesBefore: 0, linesAfter: 0, answers: [], answersBefore: [], out: 0, frames: 0 };
      f.minutes += minutes;
      f.linesBefore += generated.length;
      f.linesAfter += r.published.filter((e) => e.kind === 'commentary').length;
      f.answers.push(...r.answers);
      f.answersBefore.push(...answersBefore);
      f.out += r.outFrames;
      f.frames += r.frames;
      perFamily.set(family, f);
    }
  }
  await engine.close();
  // cost of the in-world score per frame, against the vision encoder it reads from
  const frame = new Uint8Array(model.frameBytes).map((_, i) => (i * 37) % 251);
  let visionMs = 0;
  let worldMs = 0;
  const N = 200;
  if (model.knowsItsWorld) {
    for (let i = 0; i < N + 20; i++) {
      const t0 = performance.now();
      const e = await model.encodeFrames([frame]);
      const t1 = performance.now();
      await model.scoreWorld(e, 1);
      const t2 = performance.now();
      if (i >= 20) { visionMs += t1 - t0; worldMs += t2 - t1; }
    }
  }
  await model.close();
  return { perFamily, inWorld, visionMs: visionMs / N, worldMs: worldMs / N, knows: model.knowsItsWorld };
}

const before = withoutWorld(values.pkg);
try {
  const b = await variant(before, 'before');
  const a = await variant(values.pkg, 'after');
  console.log(`\nOut-of-world sources (held out: no training and no threshold choice saw them); "${QUESTION}" asked every ${ASK_EVERY / 2} s\n`);
  const rows: (string | number)[][] = [];
  for (const [family, fa] of a.perFamily) {
    const fb = b.perFamily.get(family)!;
    rows.push([family, fmt(fa.minutes, 1), fmt(fb.linesBefore / fb.minutes, 1), fmt(fa.linesAfter / fa.minutes, 2),
      `${fb.answersBefore.filter(degenerate).length}/${fb.answersBefore.length}`, `${fa.answers.filter(degenerate).length}/${fa.answers.length}`,
      `${fa.answers.filter((x) => x.startsWith("I can't see")).length}/${fa.answers.length}`, `${fmt((100 * fa.out) / fa.frames, 1)}%`]);
  }
  table(['source', 'minutes', 'lines/min before', 'lines/min after', 'degenerate answers before', 'after', 'honest answers', 'frames judged out of world'], rows);
  console.log('\nIn-world held-out streams (seeds 610000.., 720p30 H.264, never trained or tuned on)\n');
  const sum = (xs: typeof a.inWorld, k: keyof (typeof a.inWorld)[number]) => xs.reduce((s, x) => s + (x[k] as number), 0);
  const mean = (xs: typeof a.inWorld, k: keyof (typeof a.inWorld)[number]) => sum(xs, k) / Math.max(1, xs.length);
  table(['streams', 'minutes', 'F1 before', 'F1 after', 'lines/min before', 'after', 'frames judged out of world'], [[
    a.inWorld.length, fmt(sum(a.inWorld, 'minutes'), 1), fmt(mean(b.inWorld, 'f1Before'), 3), fmt(mean(a.inWorld, 'f1After'), 3),
    fmt(sum(b.inWorld, 'linesBefore') / sum(b.inWorld, 'minutes'), 1), fmt(sum(a.inWorld, 'linesAfter') / sum(a.inWorld, 'minutes'), 1),
    `${fmt((100 * sum(a.inWorld, 'out')) / sum(a.inWorld, 'frames'), 2)}%`]]);
  console.log('\nCost per frame (one frame, CPU, after 20 warm-up runs)\n');
  table(['vision encoder ms', 'in-world score ms', 'share of vision'], [[fmt(a.visionMs, 2), fmt(a.worldMs, 3), `${fmt((100 * a.worldMs) / a.visionMs, 1)}%`]]);
} finally {
  rmSync(before, { recursive: true, force: true });
}
