/**
 * End-to-end quality and latency of the embedded model on held-out sample broadcasts: each is
 * pushed over RTMP in real time into a fresh kibitz, its ground-truth questions are asked at their
 * moments, and commentary/answers (and the closing summary: how many events it names) are scored
 * like the toolkit's evaluator. Prints tables.
 *
 *   npx tsx bench/broadcast.ts                        every bundled sample set with its own package:
 *                                                     models/samples/*.mp4 (kibitz-demo), models/samples/chess/*.mp4 (kibitz-chess)
 *   npx tsx bench/broadcast.ts --cross                also each package on the other set's first broadcast
 *                                                     (it should stay silent: lines/min, answers)
 *   npx tsx bench/broadcast.ts [--package models/<name>] FILE.mp4 ...   these files with one package
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runDemo, SAMPLES_DIR } from '../src/demo.ts';
import { scoreBroadcast, scoreSummary, type Broadcast } from '../src/model/evaluate.ts';
import { fmt, pct, table } from './table.ts';

const { values: opts, positionals } = parseArgs({ allowPositionals: true, options: { package: { type: 'string' }, cross: { type: 'boolean' } } });
const f = (x: number, d = 2) => fmt(x, d);
const mp4s = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((x) => x.endsWith('.mp4')).sort().map((x) => path.join(dir, x)) : []);

/** Sample sets that ship, each with the package that was taught their content. */
const SETS = [
  { pkg: 'models/kibitz-demo', files: mp4s(SAMPLES_DIR) },
  { pkg: 'models/kibitz-chess', files: mp4s(path.join(SAMPLES_DIR, 'chess')) },
].filter((s) => s.files.length > 0 && existsSync(s.pkg));
const runs = positionals.length > 0
  ? positionals.map((file) => ({ pkg: opts.package ?? 'models/kibitz-demo', file }))
  : SETS.flatMap((s) => s.files.map((file) => ({ pkg: s.pkg, file })));

/** One broadcast pushed over RTMP into a fresh kibitz running `pkg`, its questions asked at their moments. */
async function play(pkg: string, file: string) {
  const truth = JSON.parse(readFileSync(file.replace(/\.mp4$/, '.json'), 'utf8')) as Broadcast;
  const res = await runDemo({ file, questions: truth.qa.map((q) => ({ atMs: q.t * 1000, question: q.question })), out: () => {}, packageDir: pkg });
  return { truth, res };
}

const rows: string[][] = [];
const qaRows = new Map<string, { correct: number; n: number }>();
const allCommentaryLat: number[] = [];
const allAskLat: number[] = [];
const summaries = { covered: 0, events: 0, phrases: 0 };
for (const { pkg, file } of runs) {
  const { truth, res } = await play(pkg, file);
  const { commentary: c, asked, answers: a } = scoreBroadcast(truth, res.events);
  const sum = scoreSummary(truth.events, res.summary, 0, truth.seconds); // the closing "summary of the last hour"
  summaries.covered += sum.covered;
  summaries.events += sum.events;
  summaries.phrases += sum.phrases;
  for (const q of asked) if (q.got.trim() !== q.want) console.error(`${path.basename(pkg)} ${path.basename(file)} ${q.kind}: want "${q.want}" got "${q.got}"`);
  for (const [k, v] of Object.entries(a.byKind)) {
    const key = `${path.basename(pkg)} ${k}`;
    const r = qaRows.get(key) ?? { correct: 0, n: 0 };
    r.correct += v.correct;
    r.n += v.n;
    qaRows.set(key, r);
  }
  allCommentaryLat.push(...res.commentaryLatencies);
  allAskLat.push(...res.askLatencies);
  rows.push([path.basename(pkg), path.relative(SAMPLES_DIR, file), String(c.events), String(c.phrases), f(c.precision), f(c.recall), f(c.f1),
    f(c.spuriousPerMin, 1), f(a.overall), `${f(sum.coverage)} (${f(sum.precision)})`, `${res.framesProcessed}/${res.framesSkipped}`,
    Object.entries(res.linesDropped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || '-']);
}
table(['package', 'broadcast', 'events', 'phrases', 'precision', 'recall', 'F1', 'spurious/min', 'QA acc', 'summary cov (prec)', 'frames seen/skipped', 'lines kept back'], rows);
console.log(`closing summaries name ${summaries.covered}/${summaries.events} = ${f(summaries.covered / Math.max(1, summaries.events))} of the events; ` +
  `${summaries.covered}/${summaries.phrases} = ${f(summaries.covered / Math.max(1, summaries.phrases))} of their phrases name an event`);
console.log();
table(['package question kind', 'correct', 'asked', 'accuracy'], [...qaRows.entries()].map(([k, v]) => [k, String(v.correct), String(v.n), f(v.correct / Math.max(1, v.n))]));
console.log();
table(['latency', 'n', 'p50 ms', 'p95 ms'], [
  ['frame -> commentary event', String(allCommentaryLat.length), f(pct(allCommentaryLat, 50), 0), f(pct(allCommentaryLat, 95), 0)],
  ['ask -> answer', String(allAskLat.length), f(pct(allAskLat, 50), 0), f(pct(allAskLat, 95), 0)],
]);

if (opts.cross && SETS.length > 1) {
  // Honest boundaries: a package on content it was never taught says (almost) nothing and answers honestly.
  const cross: string[][] = [];
  for (const s of SETS) {
    for (const other of SETS.filter((o) => o !== s)) {
      const file = other.files[0]!;
      const { truth, res } = await play(s.pkg, file);
      const lines = res.events.filter((e) => e.kind === 'commentary').length;
      const answers = res.events.filter((e) => e.kind === 'answer').map((e) => (e as { text: string }).text);
      cross.push([path.basename(s.pkg), path.relative(SAMPLES_DIR, file), f(lines / (truth.seconds / 60), 1),
        `${answers.filter((t) => /can't see that/.test(t)).length}/${answers.length}`]);
    }
  }
  console.log();
  table(['package', 'on content it was not taught', 'commentary lines/min', 'honest answers'], cross);
}
