import { z } from 'zod';
import { bool, list, num } from './zod.ts';
import { BrainError, type Brain } from '../brain.ts';
import { GateError } from './errors.ts';
import { cleanQuestion, questionKey } from './sanitize.ts';

/** Fairness limits for viewers' questions, shared by every chat plugin. */
export interface GateOptions {
  /** A user may ask (or request a summary) once per this many ms. */
  cooldownMs: number;
  /** Questions outstanding per stream (waiting or with the model); more are told "busy". */
  queueSize: number;
  /** Identical questions to one stream within this window share one answer. */
  dedupeWindowMs: number;
  /** Questions longer than this are cut. */
  maxQuestionChars: number;
  /** Summary window bounds, minutes. */
  maxSummaryMinutes: number;
}

export const DEFAULT_GATE_OPTIONS: GateOptions = {
  cooldownMs: 30_000,
  queueSize: 20,
  dedupeWindowMs: 10_000,
  maxQuestionChars: 300,
  maxSummaryMinutes: 120,
};

export const gateOptionsSchema = z.object({
  cooldownMs: num(z.number().int().min(0)).default(DEFAULT_GATE_OPTIONS.cooldownMs),
  queueSize: num(z.number().int().min(1)).default(DEFAULT_GATE_OPTIONS.queueSize),
  dedupeWindowMs: num(z.number().int().min(0)).default(DEFAULT_GATE_OPTIONS.dedupeWindowMs),
  maxQuestionChars: num(z.number().int().min(10).max(2000)).default(DEFAULT_GATE_OPTIONS.maxQuestionChars),
  maxSummaryMinutes: num(z.number().int().min(1)).default(DEFAULT_GATE_OPTIONS.maxSummaryMinutes),
});

export interface Asker {
  user: string;
  /** Platform: "discord", "twitch", ... */
  source: string;
  /** Where to answer on that platform (channel id / name). */
  where?: string;
}

export interface QuestionRequest extends Asker {
  stream: string;
  question: string;
}

/**
 * One answer, possibly shared by several askers who asked the same thing. `claim(key)` is true
 * the first time per key, so a platform posts one message addressed to all its askers.
 */
export interface GateAnswer {
  answer: string;
  t: number;
  question: string;
  askers: Asker[];
  claim(key: string): boolean;
}

export interface GateSummary {
  summary: string;
  from: number;
  to: number;
  minutes: number;
}

interface InFlight {
  promise: Promise<GateAnswer>;
  askers: Asker[];
  settledAt?: number;
  result?: { answer: string; t: number; question: string };
}

function answerFor(r: { answer: string; t: number; question: string }, askers: Asker[]): GateAnswer {
  const claimed = new Set<string>();
  return { ...r, askers, claim: (k: string) => !claimed.has(k) && !!claimed.add(k) };
}

/**
 * Between chat commands and the Brain: per-user cooldown, per-stream bound, identical-question
 * coalescing, question hygiene. Brain errors come out as GateErrors with the same codes.
 */
export class QuestionGate {
  private readonly lastAsk = new Map<string, number>();
  private readonly outstanding = new Map<string, number>();
  private readonly inflight = new Map<string, InFlight>();

  private readonly getBrain: () => Brain | undefined;

  /** `brain` may be a getter: the app can attach its Brain after the plugins start. */
  constructor(brain: Brain | (() => Brain | undefined), readonly opts: GateOptions = DEFAULT_GATE_OPTIONS, private readonly now: () => number = Date.now) {
    this.getBrain = typeof brain === 'function' ? brain : () => brain;
  }

  private brain(): Brain {
    const b = this.getBrain();
    if (!b) throw new GateError('NO_MODEL', 'no model is attached yet');
    return b;
  }

  async ask(req: QuestionRequest, signal?: AbortSignal): Promise<GateAnswer> {
    const question = cleanQuestion(req.question, this.opts.maxQuestionChars);
    if (question.length === 0) throw new GateError('BAD_REQUEST', 'the question is empty.');
    const key = questionKey(req.stream, question);
    const asker: Asker = { user: req.user, source: req.source, where: req.where };

    this.sweep();
    const shared = this.inflight.get(key);
    if (shared) {
      // Joining an identical question costs the model nothing, so it skips the cooldown too.
      if (shared.result) return answerFor(shared.result, [asker]);
      shared.askers.push(asker);
      return shared.promise;
    }
    const brain = this.brain();
    this.checkCooldown(req.source, req.user);
    this.enter(req.stream);
    const askers = [asker];
    const entry: InFlight = {
      askers,
      promise: brain
        .ask({ stream: req.stream, question, user: req.user, source: req.source }, signal)
        .then((r) => {
          entry.result = { answer: r.answer, t: r.t, question };
          return answerFor(entry.result, askers);
        })
        .catch((err) => {
          this.inflight.delete(key);
          throw toGateError(err);
        })
        .finally(() => {
          entry.settledAt = this.now();
          this.leave(req.stream);
        }),
    };
    this.inflight.set(key, entry);
    return entry.promise;
  }

  async summary(req: { stream: string; minutes: number } & Asker, signal?: AbortSignal): Promise<GateSummary> {
    const minutes = Math.round(req.minutes);
    if (!Number.isFinite(minutes) || minutes < 1 || minutes > this.opts.maxSummaryMinutes) {
      throw new GateError('BAD_REQUEST', `minutes must be between 1 and ${this.opts.maxSummaryMinutes}.`);
    }
    const brain = this.brain();
    this.checkCooldown(req.source, req.user);
    this.enter(req.stream);
    try {
      const r = await brain.summary(req.stream, minutes, signal);
      return { ...r, minutes };
    } catch (err) {
      throw toGateError(err);
    } finally {
      this.leave(req.stream);
    }
  }

  private checkCooldown(source: string, user: string): void {
    if (this.opts.cooldownMs <= 0) return;
    const id = `${source}:${user.toLowerCase()}`;
    const t = this.now();
    const last = this.lastAsk.get(id);
    if (last !== undefined && t - last < this.opts.cooldownMs) {
      throw new GateError('COOLDOWN', 'asked too recently', this.opts.cooldownMs - (t - last));
    }
    this.lastAsk.set(id, t);
  }

  private enter(stream: string): void {
    const n = this.outstanding.get(stream) ?? 0;
    if (n >= this.opts.queueSize) throw new GateError('BUSY', `the question queue for ${stream} is full`);
    this.outstanding.set(stream, n + 1);
  }

  private leave(stream: string): void {
    const n = (this.outstanding.get(stream) ?? 1) - 1;
    if (n <= 0) this.outstanding.delete(stream);
    else this.outstanding.set(stream, n);
  }

  /** Drops settled answers past the dedupe window and cooldowns that have run out (bounded maps). */
  private sweep(): void {
    const t = this.now();
    for (const [k, v] of this.inflight) {
      if (v.settledAt !== undefined && t - v.settledAt >= this.opts.dedupeWindowMs) this.inflight.delete(k);
    }
    if (this.lastAsk.size > 1000) {
      for (const [k, v] of this.lastAsk) if (t - v >= this.opts.cooldownMs) this.lastAsk.delete(k);
    }
  }
}

function toGateError(err: unknown): GateError {
  if (err instanceof GateError) return err;
  if (err instanceof BrainError) return new GateError(err.code, err.message);
  if (err instanceof Error && err.name === 'AbortError') return new GateError('ABORTED', 'aborted');
  return new GateError('NO_MODEL', err instanceof Error ? err.message : String(err));
}
