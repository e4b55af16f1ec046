/**
 * Scoring of commentary and answers against a broadcast's ground truth, with the same rules as
 * the toolkit's evaluator (models/kibitz_models/evaluation/evaluate.py): an event is caught when a phrase of
 * a line (lines are split at " and ") equal to its description comes within 2 s after it; each
 * phrase counts for one event; answers must match exactly.
 */
import { linePhrases } from '../src/model/recall.ts';

export const CATCH_MS = 2000;

export interface TruthEvent {
  /** Seconds of stream time. */
  t: number;
  kind: string;
  text: string;
}

export interface TruthQa {
  t: number;
  kind: string;
  question: string;
  answer: string;
}

export interface Broadcast {
  seed: number;
  seconds: number;
  events: TruthEvent[];
  qa: TruthQa[];
  /** Game-identity check of a game sample against the training games (`cli game-samples --train`): the most plies each of its games shares with one. */
  identity?: { limit: number; games: { game: string; plies: number; shared: number; with: string }[] };
}

export interface CommentaryScore {
  events: number;
  caught: number;
  phrases: number;
  correct: number;
  precision: number;
  recall: number;
  f1: number;
  spuriousPerMin: number;
}

export function scoreCommentary(truth: TruthEvent[], lines: { streamTimeMs: number; text: string }[], seconds: number): CommentaryScore {
  const phrases = lines.flatMap((l) => linePhrases(l.text).map((text) => ({ ms: l.streamTimeMs, text })));
  const used = new Array<boolean>(phrases.length).fill(false);
  let caught = 0;
  for (const e of truth) {
    const ems = e.t * 1000;
    const j = phrases.findIndex((p, i) => !used[i] && p.text === e.text && p.ms >= ems - 1 && p.ms <= ems + CATCH_MS + 1);
    if (j >= 0) {
      used[j] = true;
      caught++;
    }
  }
  const correct = used.filter(Boolean).length;
  const precision = correct / Math.max(1, phrases.length);
  const recall = caught / Math.max(1, truth.length);
  return {
    events: truth.length, caught, phrases: phrases.length, correct, precision, recall,
    f1: (2 * precision * recall) / Math.max(1e-9, precision + recall),
    spuriousPerMin: (phrases.length - correct) / Math.max(1e-9, seconds / 60),
  };
}

/**
 * How much of a stretch of stream a runtime summary names: the events of [fromS, toS] whose line
 * is one of its phrases, each phrase used once ("x (x3)" three times); and how many of its phrases
 * name an event (a summary that repeats a line on every move covers much and says little). A
 * summary is time ranges ("00:10-00:52: ") then phrases joined by "; ", " then " or " and " (summary.ts).
 */
export function scoreSummary(truth: TruthEvent[], summary: string, fromS: number, toS: number): { events: number; covered: number; coverage: number; phrases: number; precision: number } {
  const left = new Map<string, number>();
  const body = summary.replace(/(?:\d+:)?\d{2}:\d{2}-(?:\d+:)?\d{2}:\d{2}: /g, '; ');
  for (const item of body.split(/; | then |\.(?: |$)/)) {
    const m = /^(.*?)(?: \(x(\d+)\))?$/.exec(item.trim())!;
    for (const p of linePhrases(m[1]!)) left.set(p, (left.get(p) ?? 0) + Number(m[2] ?? 1));
  }
  const phrases = [...left.values()].reduce((a, b) => a + b, 0);
  const events = truth.filter((e) => e.t >= fromS && e.t <= toS);
  let covered = 0;
  for (const e of events) {
    const n = left.get(e.text) ?? 0;
    if (n > 0) {
      left.set(e.text, n - 1);
      covered++;
    }
  }
  return { events: events.length, covered, coverage: covered / Math.max(1, events.length), phrases, precision: covered / Math.max(1, phrases) };
}

/** Exact-answer accuracy per question kind, and overall. */
export function scoreAnswers(asked: { kind: string; want: string; got: string }[]): { byKind: Record<string, { correct: number; n: number }>; overall: number } {
  const byKind: Record<string, { correct: number; n: number }> = {};
  for (const a of asked) {
    const k = (byKind[a.kind] ??= { correct: 0, n: 0 });
    k.n++;
    if (normalise(a.got) === normalise(a.want)) k.correct++;
  }
  const n = asked.length;
  const correct = Object.values(byKind).reduce((s, k) => s + k.correct, 0);
  return { byKind, overall: correct / Math.max(1, n) };
}

const normalise = (s: string) => s.toLowerCase().replace(/\s+/g, ' ').replace(/\s+([?.,!])/g, '$1').trim();

/** What a run over a broadcast published (the demo's events), as far as scoring needs. */
interface RunEvent {
  kind: string;
  text: string;
  streamTimeMs: number;
  question?: string;
}

/**
 * Scores one run over a broadcast: its commentary against the events, and its answers to the
 * ground-truth questions (the answer to a question is the one given within 5 s of stream time
 * of when it was asked; none is an empty, wrong answer). Shared by the benches.
 */
export function scoreBroadcast(truth: Broadcast, events: readonly RunEvent[]) {
  const commentary = scoreCommentary(truth.events, events.filter((e) => e.kind === 'commentary'), truth.seconds);
  const answers = events.filter((e) => e.kind === 'answer');
  const asked = truth.qa.map((q) => ({
    kind: q.kind, want: q.answer,
    got: answers.find((a) => a.question === q.question && Math.abs(a.streamTimeMs - q.t * 1000) < 5000)?.text ?? '',
  }));
  return { commentary, asked, answers: scoreAnswers(asked) };
}

