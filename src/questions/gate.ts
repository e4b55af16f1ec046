import { BrainError, type Brain } from '../brain.ts';
import type { KibitzEvent } from '../events.ts';
import { OPEN_HELP } from './kinds.ts';
import { Cooldowns, QuestionPolicy } from './policy.ts';

/** Why the question gate refused or failed a request; HTTP maps the code to a status, chats to a reply. */
export type GateErrorCode =
  | 'COOLDOWN' // the same user asked too recently (retryAfterMs says how long to wait)
  | 'BUSY' // the stream's question queue is full, or the Brain said BUSY
  | 'BAD_REQUEST' // empty question, minutes out of range
  | 'UNKNOWN_STREAM'
  | 'STREAM_ENDED'
  | 'NO_MODEL'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'INTERNAL'; // the model side failed unexpectedly (the cause is kept for the log, never shown to askers)

export class GateError extends Error {
  constructor(readonly code: GateErrorCode, message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GateError';
  }
}

export interface Asker {
  /** Display name ("alice"); HTTP callers may leave it out. */
  user: string;
  /** Where it was asked: "http", "discord", "twitch", ... */
  source: string;
  /** Where to answer on that platform (channel id / name). */
  where?: string;
  /** Whose cooldown this request counts against, when not `source:user` (an anonymous HTTP caller: its address). */
  cooldownId?: string;
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
  /** The one `answer` event published for it (HTTP returns it). */
  event: KibitzEvent;
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
  result?: Answered;
}

type Answered = { answer: string; t: number; question: string; event: KibitzEvent };

/** Key under which identical questions are coalesced. */
function questionKey(stream: string, cleaned: string): string {
  return stream + '\u0000' + cleaned.toLowerCase().replace(/[\s?!.,;:]+/g, ' ').trim();
}

function answerFor(r: Answered, askers: Asker[]): GateAnswer {
  const claimed = new Set<string>();
  return { ...r, askers, claim: (k: string) => !claimed.has(k) && !!claimed.add(k) };
}

/**
 * The one door for viewers' questions and summary requests, whichever way they come in (HTTP
 * /ask and /summary, every chat's commands; what reaches Redis workers has passed it on the
 * ingest node): the question policy (cleaning, limits), a per-asker cooldown, the per-stream
 * bound on outstanding requests (the only admission counter) and identical-question coalescing.
 * The Brain behind it takes what it lets through. Brain errors come out as GateErrors with the
 * same codes and messages.
 */
export class QuestionGate {
  private readonly cooldowns: Cooldowns;
  private readonly outstanding = new Map<string, number>();
  private readonly inflight = new Map<string, InFlight>();

  /** `brain` undefined: every request is refused with NO_MODEL (an app built without a model host). */
  constructor(private readonly target: Brain | undefined, readonly policy: QuestionPolicy = new QuestionPolicy(), private readonly now: () => number = Date.now) {
    this.cooldowns = new Cooldowns(policy.limits.cooldownMs, now);
  }

  private brain(): Brain {
    if (!this.target) throw new GateError('NO_MODEL', 'no model is attached to this kibitz: set model.package in the config (and check the startup log for model errors)');
    return this.target;
  }

  async ask(req: QuestionRequest, signal?: AbortSignal): Promise<GateAnswer> {
    const question = asGateError(() => this.policy.question(req.question));
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
    const settle = this.admit(req);
    const askers = [asker];
    const entry: InFlight = {
      askers,
      promise: brain
        .ask({ stream: req.stream, question, user: req.user || undefined, source: req.source }, signal)
        .then((r) => {
          settle();
          entry.result = { answer: r.answer, t: r.t, question, event: r.event };
          return answerFor(entry.result, askers);
        }, (err) => {
          this.inflight.delete(key);
          const refused = toGateError(err);
          settle(refused);
          throw refused;
        })
        .finally(() => {
          entry.settledAt = this.now();
        }),
    };
    this.inflight.set(key, entry);
    return entry.promise;
  }

  /** What can be asked on a stream (chat's !help): the model side's own line. Costs the model nothing, so no cooldown. */
  help(stream: string): string {
    const brain = this.brain();
    return brain.help?.(stream) ?? OPEN_HELP;
  }

  async summary(req: { stream: string; minutes: number } & Asker, signal?: AbortSignal): Promise<GateSummary> {
    const minutes = asGateError(() => this.policy.minutes(req.minutes));
    const brain = this.brain();
    const settle = this.admit(req);
    try {
      const r = await brain.summary(req.stream, minutes, signal);
      settle();
      return { ...r, minutes };
    } catch (err) {
      const refused = toGateError(err);
      settle(refused);
      throw refused;
    }
  }

  /**
   * Checks the asker's cooldown and the stream's bound, then takes a place in the bound and starts
   * the cooldown. `settle` gives the place back when the request ends, and the cooldown too when
   * the model side refused the request (it took no work on, so it costs the asker no wait).
   */
  private admit(req: Asker & { stream: string }): (err?: GateError) => void {
    const id = req.cooldownId ?? `${req.source}:${req.user.toLowerCase()}`;
    const wait = this.cooldowns.waitMs(id);
    if (wait > 0) throw new GateError('COOLDOWN', 'asked too recently', wait);
    const n = this.outstanding.get(req.stream) ?? 0;
    asGateError(() => this.policy.admit(req.stream, n));
    this.outstanding.set(req.stream, n + 1);
    const giveBackCooldown = this.cooldowns.start(id);
    return (err) => {
      this.leave(req.stream);
      if (err && REFUSALS.has(err.code)) giveBackCooldown();
    };
  }

  private leave(stream: string): void {
    const n = (this.outstanding.get(stream) ?? 1) - 1;
    if (n <= 0) this.outstanding.delete(stream);
    else this.outstanding.set(stream, n);
  }

  /** Drops settled answers past the dedupe window (a bounded map). */
  private sweep(): void {
    const t = this.now();
    for (const [k, v] of this.inflight) {
      if (v.settledAt !== undefined && t - v.settledAt >= this.policy.limits.dedupeWindowMs) this.inflight.delete(k);
    }
  }
}

/** Errors that mean the model side did not take the request on (a timeout did: the model worked on it). */
const REFUSALS = new Set<GateErrorCode>(['BUSY', 'BAD_REQUEST', 'UNKNOWN_STREAM', 'STREAM_ENDED', 'NO_MODEL']);

/** A policy check, its refusal as a GateError. */
function asGateError<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw toGateError(err);
  }
}

function toGateError(err: unknown): GateError {
  if (err instanceof GateError) return err;
  if (err instanceof BrainError) return new GateError(err.code, err.message);
  if (err instanceof Error && err.name === 'AbortError') return new GateError('ABORTED', 'aborted');
  // Not a refusal and not the asker's fault: a generic message out, the real error kept for the log.
  return new GateError('INTERNAL', 'the model failed to answer; see the kibitz log', undefined, { cause: err });
}
