import { z } from 'zod';
import { BrainError } from '../brain.ts';
import { num } from '../config_values.ts';

/**
 * The one set of rules for viewers' questions and summary requests, set by `questions:` in the
 * config. The question gate (gate.ts) applies it once per request, for every way in (the HTTP
 * API, every chat; Redis workers get what the ingest node's gate let through), so a refusal
 * reads the same wherever the request came from.
 */
export interface QuestionLimits {
  /** A chat user may ask (or request a summary) once per this many ms, counted from an accepted request. */
  cooldownMs: number;
  /** Questions and summaries outstanding per stream; more are refused as busy. */
  queueSize: number;
  /** Identical chat questions to one stream within this window share one answer. */
  dedupeWindowMs: number;
  /** Longest question, in characters once cleaned; a longer one is refused, never cut. */
  maxQuestionChars: number;
  /** Longest summary window, minutes. */
  maxSummaryMinutes: number;
}

export const DEFAULT_QUESTION_LIMITS: QuestionLimits = {
  cooldownMs: 30_000,
  queueSize: 20,
  dedupeWindowMs: 10_000,
  maxQuestionChars: 300,
  maxSummaryMinutes: 60,
};

export const questionLimitsSchema = z.object({
  cooldownMs: num(z.number().int().min(0)).default(DEFAULT_QUESTION_LIMITS.cooldownMs),
  queueSize: num(z.number().int().min(1)).default(DEFAULT_QUESTION_LIMITS.queueSize),
  dedupeWindowMs: num(z.number().int().min(0)).default(DEFAULT_QUESTION_LIMITS.dedupeWindowMs),
  maxQuestionChars: num(z.number().int().min(10).max(2000)).default(DEFAULT_QUESTION_LIMITS.maxQuestionChars),
  maxSummaryMinutes: num(z.number().int().min(1)).default(DEFAULT_QUESTION_LIMITS.maxSummaryMinutes),
});

// C0/C1 controls (keeping none: questions are one line), bidi overrides and isolates, zero-widths
// used to hide text, and the BOM.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/g;
// Chat-template markers a question could use to pose as a system or assistant turn.
const TEMPLATE_MARKERS = /<\|[^|>]{0,40}\|>|<\/?(?:s|system|assistant|user)>/gi;
// Leading command characters: a question must never read as a command to the bot or another bot.
// Repeated, so that cleaning a cleaned question changes nothing ("! !x" is "x" at once).
const LEADING_COMMAND = /^(?:[!/.\\]+\s*)+/;

/** Question text as the model will see it: one line, no controls, no template markers, no command prefix. */
export function cleanQuestion(raw: string): string {
  return raw.replace(CONTROL, ' ').replace(TEMPLATE_MARKERS, ' ').replace(/\s+/g, ' ').trim().replace(LEADING_COMMAND, '');
}

/** The rules applied: each method returns what it accepts and throws a BrainError for what it refuses. */
export class QuestionPolicy {
  constructor(readonly limits: QuestionLimits = DEFAULT_QUESTION_LIMITS) {}

  /** The cleaned question; an empty one, or one longer than maxQuestionChars, is a BAD_REQUEST. */
  question(raw: string): string {
    const q = cleanQuestion(raw);
    if (q.length === 0) throw new BrainError('BAD_REQUEST', 'the question is empty');
    const max = this.limits.maxQuestionChars;
    if (q.length > max) throw new BrainError('BAD_REQUEST', `the question is longer than ${max} characters; ask a shorter one`);
    return q;
  }

  /** A summary window from 1 to maxSummaryMinutes; anything else is a BAD_REQUEST. */
  minutes(minutes: number): number {
    const max = this.limits.maxSummaryMinutes;
    if (!Number.isFinite(minutes) || minutes < 1 || minutes > max) throw new BrainError('BAD_REQUEST', `minutes must be between 1 and ${max}`);
    return minutes;
  }

  /** Refuses (BUSY) one more request for a stream that already has `waiting` outstanding. */
  admit(stream: string, waiting: number): void {
    if (waiting >= this.limits.queueSize) throw new BrainError('BUSY', `stream ${stream} has ${waiting} requests waiting; try again shortly`);
  }
}

/**
 * The policy the config sets: top-level `questions`, else the deprecated `plugins.questions`
 * (validated at load; absent means the defaults).
 */
export function questionPolicyOf(config: { questions?: QuestionLimits; plugins: { questions?: QuestionLimits } }): QuestionPolicy {
  return new QuestionPolicy(config.questions ?? config.plugins.questions ?? DEFAULT_QUESTION_LIMITS);
}

/**
 * Per-asker cooldowns. A cooldown starts when a request is accepted, and the gate hands it back
 * when the model side refuses the request after all: only work taken on costs the asker a wait.
 */
export class Cooldowns {
  private readonly last = new Map<string, number>();
  constructor(private readonly ms: number, private readonly now: () => number = Date.now) {}

  /** Milliseconds until `asker` may ask again (0: now). */
  waitMs(asker: string): number {
    const last = this.last.get(asker);
    return last === undefined ? 0 : Math.max(0, this.ms - (this.now() - last));
  }

  /** Starts the asker's cooldown; the returned function takes it back. */
  start(asker: string): () => void {
    if (this.ms <= 0) return () => {};
    const t = this.now();
    this.last.set(asker, t);
    this.forgetExpired(t);
    // Any earlier stamp had run out (the request would have been refused otherwise): forget it too.
    return () => {
      if (this.last.get(asker) === t) this.last.delete(asker);
    };
  }

  /** Keeps the map bounded: a crowd of one-time askers must not grow it forever. */
  private forgetExpired(t: number): void {
    if (this.last.size <= 1000) return;
    for (const [k, v] of this.last) if (t - v >= this.ms) this.last.delete(k);
  }
}
