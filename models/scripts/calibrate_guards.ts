/**
 * Chooses a package's guard limits (manifest `guards`, read by src/model/line_guard.ts) from
 * what the model says on in-world VALIDATION streams: the mean log-probability floor sits under
 * all but `--keep` of its in-world lines, so the floor stops guessing, not the model's own world.
 * Never run this on held-out data (that would make it validation).
 *
 *   npx tsx models/scripts/calibrate_guards.ts --pkg models/kibitz-demo --data models/.cache/world/in_val [--keep 0.995] [--write]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { EventBus } from '../../src/bus.ts';
import { ModelEngine, type ObservedLine } from '../../src/model/engine.ts';
import { Model } from '../../src/model/model.ts';
import { readFramesNpy } from './npy.ts';

const { values } = parseArgs({
  options: {
    pkg: { type: 'string', default: 'models/kibitz-demo' },
    data: { type: 'string', default: 'models/.cache/world/in_val' },
    keep: { type: 'string', default: '0.995' },
    write: { type: 'boolean', default: false },
  },
});
/** Questions asked while calibrating, by the game the package was taught (manifest `game`, models/kibitz_models/games/catalogue.py). */
const QUESTIONS_BY_GAME: Record<string, string[]> = {
  demo: ['what is the score?', 'how many lives are left?', 'what level is it?', 'what just happened?', 'when was the player last hit?', 'what colour was the last gem?'],
  chess: ['whose move is it?', 'what just happened?', 'who made the last capture?'],   // games/chess.py QUESTIONS, first phrasings
};
const game = (JSON.parse(readFileSync(path.join(values.pkg, 'manifest.json'), 'utf8')) as { game?: string }).game ?? 'demo';
const QUESTIONS = QUESTIONS_BY_GAME[game];
if (!QUESTIONS) throw new Error(`calibrate_guards: no questions for game "${game}"; add them to QUESTIONS_BY_GAME`);

const model = await Model.load({ packageDir: values.pkg });
const observed: ObservedLine[] = [];
const engine = new ModelEngine(model, new EventBus(), pino({ level: 'error' }), { observeLine: (l) => void observed.push(l), guards: { minMeanLogprob: -Infinity } });
const files = readdirSync(values.data).filter((f) => f.endsWith('.npy') && !f.includes('.tmp') && !f.includes('.emb-')).sort();
for (const f of files) {
  const { frames, width, height } = readFramesNpy(path.join(values.data, f));
  engine.open(f);
  for (let i = 0; i < frames.length; i++) {
    // validation streams decoded for this package (through its view, if it has one)
    await engine.offerAndWait({ stream: f, seq: i, streamTimeMs: i * 500, width, height, view: engine.frameView, data: frames[i]!, decodedAt: performance.now() });
    if (i % 10 === 9) await engine.ask({ stream: f, question: QUESTIONS[(i / 10) % QUESTIONS.length | 0]! });
  }
  await engine.summary(f, 5);
  engine.end(f);
}
await engine.close();
await model.close();

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.floor(q * (xs.length - 1)))]!;
const keep = Number(values.keep);
const lps = observed.map((l) => l.meanLogprob);
const floor = Math.floor(quantile(lps, 1 - keep) * 100) / 100;
const maxTok = (kind: string) => Math.max(...observed.filter((l) => l.kind === kind).map((l) => l.tokens));
const guards = {
  maxTokens: { commentary: Math.max(16, 2 * maxTok('commentary')), answer: Math.max(8, 2 * maxTok('answer')), summary: Math.max(24, 2 * maxTok('summary')) },
  minMeanLogprob: floor,
  calibration: { data: values.data, streams: files.length, lines: observed.length, keep, note: 'floor: the (1-keep) quantile of in-world validation lines; maxTokens: twice the longest in-world line' },
};
console.log(JSON.stringify({ byKind: Object.fromEntries(['commentary', 'answer', 'summary'].map((k) => [k, { n: observed.filter((l) => l.kind === k).length, maxTokens: maxTok(k), p1: quantile(observed.filter((l) => l.kind === k).map((l) => l.meanLogprob), 0.01) }])), guards }, null, 1));
if (values.write) {
  const file = path.join(values.pkg, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  m.guards = guards;
  writeFileSync(file, JSON.stringify(m, null, 2));
  console.log(`wrote guards to ${file}`);
}
