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
 *   --no-reworded                                     skip viewers' own words (below)
 *
 * Viewers' own words (a package with question kinds): each broadcast is pushed again once per
 * held-out phrasing set (models/tests/question_sets/, bench/question_sets.ts), its ground-truth
 * questions asked at the same moments reworded the way viewers type them, and out-of-scope
 * questions in between; the table puts canonical, reworded and wrongly refused side by side per
 * kind, with how many out-of-scope questions got the honest line.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runDemo, SAMPLES_DIR } from '../src/demo.ts';
import { scoreBroadcast, scoreSummary, type Broadcast } from './evaluate.ts';
import { classifierOnSet, kindsOf, phrasingSets, Rewording } from './question_sets.ts';
import { fmt, pct, table } from './table.ts';

const { values: opts, positionals } = parseArgs({ allowPositionals: true, options: { package: { type: 'string' }, cross: { type: 'boolean' }, 'no-reworded': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
if (opts.help) {
  const doc = readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!;
  console.log(doc.replace(/^\/\*\*\n?/, '').replace(/^ \* ?/gm, ''));
  process.exit(0);
}
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

/** One broadcast pushed over RTMP into a fresh kibitz running `pkg`, its questions asked at their moments (reworded, with extra questions, when given). */
async function play(pkg: string, file: string, words?: { rewording: Rewording; outOfScope: number }) {
  const canonical = JSON.parse(readFileSync(file.replace(/\.mp4$/, '.json'), 'utf8')) as Broadcast;
  const truth = words ? { ...canonical, qa: canonical.qa.map((q) => ({ ...q, question: words.rewording.kind(q.kind) ?? q.question })) } : canonical;
  const extra = words ? words.rewording.outOfScope(words.outOfScope) : [];
  // Out-of-scope questions spread evenly over the broadcast, between its ground-truth moments.
  const between = extra.map((question, i) => ({ atMs: Math.round((3 + ((truth.seconds - 6) * (i + 0.5)) / extra.length) * 1000), question }));
  const res = await runDemo({ file, questions: [...truth.qa.map((q) => ({ atMs: q.t * 1000, question: q.question })), ...between], out: () => {}, packageDir: pkg });
  return { truth, res, extra };
}

/** Per package and kind: canonical QA, and per phrasing set reworded QA and wrong refusals; per package and set: out of scope. */
const words = new Map<string, { correct: number; n: number; refused: number }>();
const tally = (key: string, correct: boolean, refused = false) => {
  const r = words.get(key) ?? { correct: 0, n: 0, refused: 0 };
  r.n++;
  r.correct += Number(correct);
  r.refused += Number(refused);
  words.set(key, r);
};
const f1ByRun = new Map<string, number[]>();
const rewordings = new Map<string, Rewording>();

const rows: string[][] = [];
const qaRows = new Map<string, { correct: number; n: number }>();
const allCommentaryLat: number[] = [];
const allAskLat: number[] = [];
const summaries = { covered: 0, events: 0, phrases: 0 };
const identities: string[] = [];
for (const { pkg, file } of runs) {
  const { truth, res } = await play(pkg, file);
  if (truth.identity) {
    const worst = truth.identity.games.reduce((a, b) => (b.shared > a.shared ? b : a));
    identities.push(`${path.basename(file)}: ${truth.identity.games.map((g) => `${g.game} (${g.plies} plies)`).join(', ')}; at most ${worst.shared} plies in a row shared with a training game (${worst.with}; the limit is ${truth.identity.limit})`);
  }
  const { commentary: c, asked, answers: a } = scoreBroadcast(truth, res.events);
  const sum = scoreSummary(truth.events, res.summary, 0, truth.seconds); // the closing "summary of the last hour"
  summaries.covered += sum.covered;
  summaries.events += sum.events;
  summaries.phrases += sum.phrases;
  for (const q of asked) if (q.got.trim() !== q.want) console.error(`${path.basename(pkg)} ${path.basename(file)} ${q.kind}: want "${q.want}" got "${q.got}"`);
  for (const q of asked) tally(`${path.basename(pkg)}|${q.kind}|canonical`, q.got.trim() === q.want);
  f1ByRun.set('canonical', [...(f1ByRun.get('canonical') ?? []), c.f1]);
  const kinds = opts['no-reworded'] ? null : kindsOf(pkg);
  for (const set of kinds ? phrasingSets(pkg) : []) {
    const key = `${pkg}|${set.name}`;
    if (!rewordings.has(key)) rewordings.set(key, new Rewording(set));
    const shareOf = Math.ceil(set.outOfScope.length / runs.filter((r) => r.pkg === pkg).length);
    const w = await play(pkg, file, { rewording: rewordings.get(key)!, outOfScope: shareOf });
    const scored = scoreBroadcast(w.truth, w.res.events);
    f1ByRun.set(set.name, [...(f1ByRun.get(set.name) ?? []), scored.commentary.f1]);
    w.truth.qa.forEach((q, i) => {
      const got = scored.asked[i]!.got.trim();
      tally(`${path.basename(pkg)}|${q.kind}|${set.name}`, got === q.answer, got === kinds!.help);
      if (got !== q.answer) console.error(`${path.basename(pkg)} ${path.basename(file)} ${set.name} ${q.kind} "${q.question}": want "${q.answer}" got "${got}"`);
    });
    for (const q of w.extra) {
      const a = w.res.events.find((e) => e.kind === 'answer' && e.question === q);
      tally(`${path.basename(pkg)}|out of scope|${set.name}`, a?.text === kinds!.help);
      if (a?.text !== kinds!.help) console.error(`${path.basename(pkg)} ${set.name} out of scope "${q}": got "${a?.text ?? '(no answer)'}"`);
    }
  }
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
if (identities.length > 0) console.log(`held out by game identity (cli game-samples --train):\n  ${identities.join('\n  ')}`);
console.log();
table(['package question kind', 'correct', 'asked', 'accuracy'], [...qaRows.entries()].map(([k, v]) => [k, String(v.correct), String(v.n), f(v.correct / Math.max(1, v.n))]));
console.log();
table(['latency', 'n', 'p50 ms', 'p95 ms'], [
  ['frame -> commentary event', String(allCommentaryLat.length), f(pct(allCommentaryLat, 50), 0), f(pct(allCommentaryLat, 95), 0)],
  ['ask -> answer', String(allAskLat.length), f(pct(allAskLat, 50), 0), f(pct(allAskLat, 95), 0)],
]);

if (words.size > 0) {
  // Viewers' own words: live (over RTMP, the same moments), then the classifier alone on every phrasing of each set.
  const pkgs = [...new Set(runs.map((r) => r.pkg))].filter((p) => kindsOf(p));
  const setNames = [...new Set(pkgs.flatMap((p) => phrasingSets(p).map((s) => s.name)))];
  const cell = (k: string) => {
    const r = words.get(k);
    return r ? `${r.correct}/${r.n} = ${f(r.correct / Math.max(1, r.n))}` : '-';
  };
  const refusedCell = (k: string) => {
    const r = words.get(k);
    return r ? `${r.refused}/${r.n}` : '-';
  };
  const live: string[][] = [];
  for (const p of pkgs) {
    const name = path.basename(p);
    const kindsHere = [...new Set([...words.keys()].filter((k) => k.startsWith(`${name}|`)).map((k) => k.split('|')[1]!))].filter((k) => k !== 'out of scope');
    const sum = (run: string) => {
      const rs = kindsHere.map((k) => words.get(`${name}|${k}|${run}`)).filter((r) => r !== undefined);
      const c = rs.reduce((a, r) => a + r.correct, 0), n = rs.reduce((a, r) => a + r.n, 0), x = rs.reduce((a, r) => a + r.refused, 0);
      return { qa: `${c}/${n} = ${f(c / Math.max(1, n))}`, refused: `${x}/${n}` };
    };
    for (const k of [...kindsHere, 'all kinds']) {
      const row = k === 'all kinds'
        ? [name, k, sum('canonical').qa, ...setNames.flatMap((s) => [sum(s).qa, sum(s).refused])]
        : [name, k, cell(`${name}|${k}|canonical`), ...setNames.flatMap((s) => [cell(`${name}|${k}|${s}`), refusedCell(`${name}|${k}|${s}`)])];
      live.push(row);
    }
    live.push([name, 'out of scope: honest line', '-', ...setNames.flatMap((s) => [cell(`${name}|out of scope|${s}`), '-'])]);
  }
  console.log();
  console.log("viewers' own words, live over RTMP (QA right / asked; refused = a reworded in-scope question given the honest line)");
  table(['package', 'kind', 'canonical QA', ...setNames.flatMap((s) => [`${s} reworded QA`, `${s} refused`])], live);
  console.log(`commentary F1, mean over broadcasts: ${[...f1ByRun.entries()].map(([run, xs]) => `${run} ${f(xs.reduce((a, b) => a + b, 0) / xs.length)}`).join(', ')}`);
  const offline: string[][] = [];
  for (const p of pkgs) {
    for (const set of phrasingSets(p)) {
      const r = classifierOnSet(kindsOf(p)!, set);
      const all = Object.values(r.byKind).reduce((a, k) => ({ right: a.right + k.right, refused: a.refused + k.refused, n: a.n + k.n }), { right: 0, refused: 0, n: 0 });
      offline.push([path.basename(p), set.name, `${all.right}/${all.n} = ${f(all.right / all.n)}`, `${all.refused}/${all.n} = ${f(all.refused / all.n)}`,
        `${r.outOfScope.refused}/${r.outOfScope.n} = ${f(r.outOfScope.refused / r.outOfScope.n)}`,
        Object.entries(r.byKind).map(([k, v]) => `${k} ${v.right}/${v.n}`).join(', ')]);
    }
  }
  console.log();
  console.log('the question classifier alone on every phrasing of each held-out set');
  table(['package', 'set', 'reworded: right kind', 'reworded: refused', 'out of scope: refused', 'right kind by kind'], offline);
}

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
