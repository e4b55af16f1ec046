/**
 * End-to-end quality and latency of the embedded model on held-out sample broadcasts: each is
 * pushed over RTMP in real time into a fresh kibitz, its ground-truth questions are asked at their
 * moments, and commentary/answers are scored like the toolkit's evaluator. Prints tables.
 *
 *   npx tsx bench/broadcast.ts [--package models/<name>] [models/samples/broadcast1.mp4 ...]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runDemo, SAMPLES_DIR } from '../src/demo.ts';
import { scoreBroadcast, type Broadcast } from '../src/model/evaluate.ts';
import { fmt, pct, table } from './table.ts';

const { values: opts, positionals } = parseArgs({ allowPositionals: true, options: { package: { type: 'string' } } });
const files = positionals.length > 0 ? positionals : readdirSync(SAMPLES_DIR).filter((f) => f.endsWith('.mp4')).sort().map((f) => path.join(SAMPLES_DIR, f));
const f = (x: number, d = 2) => fmt(x, d);

const rows: string[][] = [];
const qaRows = new Map<string, { correct: number; n: number }>();
const allCommentaryLat: number[] = [];
const allAskLat: number[] = [];
for (const file of files) {
  const truth = JSON.parse(readFileSync(file.replace(/\.mp4$/, '.json'), 'utf8')) as Broadcast;
  const res = await runDemo({ file, questions: truth.qa.map((q) => ({ atMs: q.t * 1000, question: q.question })), out: () => {}, ...(opts.package ? { packageDir: opts.package } : {}) });
  const { commentary: c, asked, answers: a } = scoreBroadcast(truth, res.events);
  for (const q of asked) if (q.got.trim() !== q.want) console.error(`${path.basename(file)} ${q.kind}: want "${q.want}" got "${q.got}"`);
  for (const [k, v] of Object.entries(a.byKind)) {
    const r = qaRows.get(k) ?? { correct: 0, n: 0 };
    r.correct += v.correct;
    r.n += v.n;
    qaRows.set(k, r);
  }
  allCommentaryLat.push(...res.commentaryLatencies);
  allAskLat.push(...res.askLatencies);
  rows.push([path.basename(file), String(c.events), String(c.phrases), f(c.precision), f(c.recall), f(c.f1), f(c.spuriousPerMin, 1), f(a.overall),
    `${res.framesProcessed}/${res.framesSkipped}`]);
}
table(['broadcast', 'events', 'phrases', 'precision', 'recall', 'F1', 'spurious/min', 'QA acc', 'frames seen/skipped'], rows);
console.log();
table(['question kind', 'correct', 'asked', 'accuracy'], [...qaRows.entries()].map(([k, v]) => [k, String(v.correct), String(v.n), f(v.correct / Math.max(1, v.n))]));
console.log();
table(['latency', 'n', 'p50 ms', 'p95 ms'], [
  ['frame -> commentary event', String(allCommentaryLat.length), f(pct(allCommentaryLat, 50), 0), f(pct(allCommentaryLat, 95), 0)],
  ['ask -> answer', String(allAskLat.length), f(pct(allAskLat, 50), 0), f(pct(allAskLat, 95), 0)],
]);
