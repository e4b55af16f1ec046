import { pino } from 'pino';
import type { AnswerResult, AskRequest, Brain, SummaryResult } from '../../src/brain.ts';
import type { EventBus } from '../../src/bus.ts';

export const silentLog = pino({ level: process.env.KIBITZ_TEST_LOG ?? 'silent' });

/** A Brain with canned answers that, like the real one, publishes an answer or summary event for every request. */
export class FakeBrain implements Brain {
  asked: AskRequest[] = [];
  delayMs = 0;
  answerFor: (q: string) => string = (q) => `answer to: ${q}`;
  constructor(private readonly bus: EventBus) {}

  async ask(req: AskRequest, signal?: AbortSignal): Promise<AnswerResult> {
    this.asked.push(req);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    signal?.throwIfAborted();
    const answer = this.answerFor(req.question);
    const event = this.bus.publish({ stream: req.stream, kind: 'answer', text: answer, streamTimeMs: 1000, question: req.question, user: req.user, source: req.source });
    return { answer, t: 1000, event };
  }

  async summary(stream: string, minutes: number): Promise<SummaryResult> {
    const r = { summary: `summary of ${stream} over ${minutes} min`, from: 0, to: minutes * 60_000 };
    this.bus.publish({ stream, kind: 'summary', text: r.summary, streamTimeMs: r.to });
    return r;
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Prints a one-row latency table (ms) for the report. */
export function printLatency(label: string, samples: number[]): { p50: number; p95: number } {
  const s = [...samples].sort((a, b) => a - b);
  const row = { platform: label, n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN };
  const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
  console.log(`\ncommand-to-reply overhead (ms)\n| platform | n | p50 | p95 | max |\n|---|---|---|---|---|\n| ${row.platform} | ${row.n} | ${fmt(row.p50)} | ${fmt(row.p95)} | ${fmt(row.max)} |\n`);
  return { p50: row.p50, p95: row.p95 };
}

export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
