import type { Logger } from 'pino';
import { BrainError, type AnswerResult, type AskRequest, type Brain, type SummaryResult } from '../brain.ts';
import type { EventBus } from '../bus.ts';
import type { Frame } from '../frames.ts';
import type { FrameView } from '../decode/filter.ts';
import { newEventId } from '../events.ts';
import { OPEN_HELP } from '../questions/kinds.ts';
import { cacheLimitsFor, DEFAULT_ENGINE_OPTIONS, type EngineOptions } from './engine_options.ts';
import { FramePath } from './frame_path.ts';
import type { CacheLimits } from './kv_cache.ts';
import { Lines } from './lines.ts';
import type { Model } from './model.ts';
import { Scheduler } from './scheduler.ts';
import { StreamContext } from './stream_context.ts';
import { StreamSlot, type EngineStreamStats } from './stream_slot.ts';
import type { SaidLog } from './summary.ts';

export { cacheLimitsFor, DEFAULT_ENGINE_OPTIONS, engineOptionsFromConfig, type EngineOptions, type ObservedLine } from './engine_options.ts';
export type { EngineStreamStats } from './stream_slot.ts';

/** Said to an asker when the model's own answer did not pass the guards. */
const UNSURE_ANSWER = "I can't tell from what I have seen.";

/**
 * Runs the model for every live stream in this process, and is its Brain. The work is split by
 * concern: the scheduler (scheduler.ts: turns, batching, fairness) runs the per-frame path
 * (frame_path.ts: world score -> step -> decide -> generate) and the questions; what happens to
 * a generated line is lines.ts (guards, recall, summaries); each stream's state is one
 * StreamSlot (stream_slot.ts). This file is the door: streams open and end, frames come in,
 * questions and summaries are asked (idempotent by id), counters are read.
 */
export class ModelEngine implements Brain {
  private readonly opts: EngineOptions;
  private readonly limits: CacheLimits;
  private readonly lines: Lines;
  private readonly frames: FramePath;
  private readonly scheduler: Scheduler;
  private readonly slots = new Map<string, StreamSlot>();
  private readonly ended = new Set<string>();
  /** What ended streams said, for a summary asked after the end. */
  private readonly endedSaid = new Map<string, { said: SaidLog; lastMs: number }>();
  /** Answers by question id: the same id asked twice is answered once. */
  private readonly answered = new Map<string, Promise<AnswerResult>>();
  private readonly frameDoneListeners = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(private readonly model: Model, private readonly bus: EventBus, private readonly log: Logger, opts: Partial<EngineOptions> = {}) {
    this.opts = { ...DEFAULT_ENGINE_OPTIONS, ...opts, limits: { ...DEFAULT_ENGINE_OPTIONS.limits, ...opts.limits } };
    this.limits = cacheLimitsFor(model, this.opts.limits);
    const gen = (model.manifest as { generation?: { maxNewTokens?: number } }).generation?.maxNewTokens;
    if (gen) this.opts.maxResponseTokens = Math.min(this.opts.maxResponseTokens, gen);
    this.lines = new Lines(model, bus, log, this.opts.guards, this.opts.observeLine);
    this.frames = new FramePath(model, bus, log, this.opts, this.lines, (stream) => this.newContext(stream), (stream) => this.frameDone(stream));
    this.scheduler = new Scheduler(() => this.slots.values(), this.frames, this.lines, log, this.opts);
  }

  /** The part of the screen the package's frames must show (manifest frame.view); undefined: the whole frame. */
  get frameView(): FrameView | undefined {
    return this.frames.frameView;
  }

  /** Starts model work for a stream; frames go in through `offer`. Idempotent per name. */
  open(stream: string): void {
    if (this.slots.has(stream)) return;
    this.ended.delete(stream);
    this.slots.set(stream, new StreamSlot(stream, this.newContext(stream), this.frames.newWatch(), this.lines.newGuard(), this.frames.newDrop()));
  }

  /** Hands a frame to the model. Never blocks: a frame still waiting is replaced and counted as skipped. */
  offer(frame: Frame): void {
    const slot = this.slots.get(frame.stream);
    if (!slot) return;
    if (!this.frames.accepts(slot, frame)) {
      this.frameDone(frame.stream);
      return;
    }
    if (slot.pending) {
      slot.stats.framesSkipped++;
      this.frameDone(frame.stream);
    }
    slot.pending = frame;
    this.scheduler.kick();
  }

  /**
   * Calls `cb` whenever a frame of `stream` is done: decided on, outside the world, rejected, or
   * skipped for a newer one (when framesProcessed, framesRejected or framesSkipped count it), and
   * when the stream ends (its frames in flight will not be counted). An owner that must know the
   * model has taken a frame (a context rebuild) waits for this instead of polling the stats.
   * Returns the unsubscribe.
   */
  onFrameDone(stream: string, cb: () => void): () => void {
    const listeners = this.frameDoneListeners.get(stream) ?? new Set<() => void>();
    this.frameDoneListeners.set(stream, listeners);
    listeners.add(cb);
    return () => {
      listeners.delete(cb);
      if (listeners.size === 0 && this.frameDoneListeners.get(stream) === listeners) this.frameDoneListeners.delete(stream);
    };
  }

  /**
   * Offers a frame and resolves when the engine is done with a frame of this stream (or the
   * stream ends), when `signal` aborts, or after `timeoutMs`. For owners that must not run ahead
   * of the model (a context rebuild, benches and calibration that feed every frame).
   */
  offerAndWait(frame: Frame, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    const { signal, timeoutMs = 30_000 } = opts;
    return new Promise<void>((resolve) => {
      const finish = () => {
        off();
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      // Listening before the offer: a rejected or skipped frame is told about inside offer().
      const off = this.onFrameDone(frame.stream, finish);
      const timer = setTimeout(finish, timeoutMs);
      signal?.addEventListener('abort', finish, { once: true });
      this.offer(frame);
      if (signal?.aborted || !this.slots.has(frame.stream)) finish();
    });
  }

  /** Consumes a session's frames until it ends or `signal` aborts, then closes the stream. */
  async consume(stream: string, frames: AsyncIterable<Frame>, signal?: AbortSignal): Promise<void> {
    this.open(stream);
    try {
      for await (const f of frames) {
        if (signal?.aborted) break;
        this.offer(f);
      }
    } finally {
      this.end(stream);
    }
  }

  /** Ends a stream: pending questions fail, its context is disposed. */
  end(stream: string): void {
    const slot = this.slots.get(stream);
    if (!slot) return;
    this.slots.delete(stream);
    slot.ended = true;
    this.ended.add(stream);
    for (const j of slot.jobs) j.reject(new BrainError('STREAM_ENDED', `stream ${stream} ended before the question was answered`));
    slot.jobs = [];
    slot.ctx.dispose();
    this.endedSaid.set(stream, { said: slot.said, lastMs: slot.lastStreamTimeMs });
    this.frameDone(stream);
  }

  stats(stream: string): EngineStreamStats | undefined {
    return this.slots.get(stream)?.stats;
  }

  /** Every open stream's stats (for /metrics). */
  *allStats(): Iterable<[string, EngineStreamStats]> {
    for (const [name, slot] of this.slots) yield [name, slot.stats];
  }

  get liveStreams(): string[] {
    return [...this.slots.keys()];
  }

  /** Recent frame->decision latencies (ms), newest last, at most 1000. */
  get latencies(): readonly number[] {
    return this.frames.latencies;
  }

  /** Recent frame->commentary-published latencies (ms): decision plus generating the line. */
  get commentaryLatencies(): readonly number[] {
    return this.lines.commentaryLatencies;
  }

  /**
   * Questions come through the question gate (src/questions/gate.ts: cleaned, within the
   * limits, bounded per stream), on this process or on the ingest node that sent them here.
   */
  async ask(req: AskRequest, signal?: AbortSignal): Promise<AnswerResult> {
    const id = req.id ?? newEventId();
    const seen = this.answered.get(id);
    if (seen) return seen; // idempotent by question id
    const { question } = req;
    const slot = this.liveSlot(req.stream);
    const publish = (answer: string, streamTimeMs: number): AnswerResult => {
      const event = this.bus.publish({ stream: req.stream, kind: 'answer', text: answer, streamTimeMs, question, user: req.user, source: req.source, id: `a-${id}` });
      slot.stats.answers++;
      return { answer, t: streamTimeMs, event };
    };
    const remember = (p: Promise<AnswerResult>) => {
      this.answered.set(id, p);
      if (this.answered.size > 1000) this.answered.delete(this.answered.keys().next().value!);
      return p;
    };
    // Nothing the model could say about this picture is worth hearing: answer honestly, at once.
    if (slot.watch && !slot.watch.trusted) return remember(Promise.resolve(publish(this.opts.honestAnswer, slot.lastStreamTimeMs)));
    // A closed package answers its question kinds only, each in the wording it was trained on
    // (src/questions/kinds.ts); a question of none of them gets what can be asked, never a guess.
    const kinds = this.model.pkg.questions;
    const kind = kinds?.understand(question).kind ?? null;
    if (kinds && !kind) return remember(Promise.resolve(publish(kinds.help, slot.lastStreamTimeMs)));
    const recall = this.lines.recall?.forKind(kind?.kind ?? null) ?? undefined;
    const prompt = this.model.prompts.question(kind?.question ?? question, this.limits.maxStepTokens);
    const p = remember(this.scheduler.enqueue(slot, { kind: 'ask', prompt, recall, req: { ...req, id, question } }, signal)
      .then(({ text, streamTimeMs }) => publish(text.length > 0 ? text : UNSURE_ANSWER, streamTimeMs)));
    p.catch(() => this.answered.delete(id));
    return p;
  }

  /** What can be asked (the same line a question of no kind gets); the stream does not change it. */
  help(_stream: string): string {
    return this.model.pkg.questions?.help ?? OPEN_HELP;
  }

  /** `minutes` has passed the question gate's limits. */
  async summary(stream: string, minutes: number, signal?: AbortSignal): Promise<SummaryResult> {
    const slot = this.slots.get(stream);
    const windowMs = minutes * 60_000;
    if (!slot) {
      const ended = this.endedSaid.get(stream);
      if (!ended) throw new BrainError('UNKNOWN_STREAM', `stream ${stream} is not live and has no history in this process`);
      const from = Math.max(0, ended.lastMs - windowMs);
      const summary = this.lines.summary(ended.said, from, ended.lastMs, ended.lastMs + 1, null);
      this.bus.publish({ stream, kind: 'summary', text: summary, streamTimeMs: ended.lastMs });
      return { summary, from, to: ended.lastMs };
    }
    // Outside its world the model's own recap of the window would be invented: summarise what was said.
    const { text, streamTimeMs } = slot.watch && !slot.watch.trusted
      ? { text: '', streamTimeMs: slot.lastStreamTimeMs }
      : await this.scheduler.enqueue(slot, { kind: 'summary', prompt: [...this.model.prompts.summary] }, signal);
    const from = Math.max(0, streamTimeMs - windowMs);
    const summary = this.lines.summary(slot.said, from, streamTimeMs, slot.contextFrameTimesMs[0] ?? 0, text);
    this.bus.publish({ stream, kind: 'summary', text: summary, streamTimeMs });
    return { summary, from, to: streamTimeMs };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const name of [...this.slots.keys()]) this.end(name);
    await this.scheduler.close();
  }

  private liveSlot(stream: string): StreamSlot {
    const slot = this.slots.get(stream);
    if (slot) return slot;
    if (this.ended.has(stream)) throw new BrainError('STREAM_ENDED', `stream ${stream} has ended`);
    throw new BrainError('UNKNOWN_STREAM', `stream ${stream} is not live`);
  }

  private newContext(stream: string): StreamContext {
    return new StreamContext(stream, this.model, { limits: this.limits, maxResponseTokens: this.opts.maxResponseTokens });
  }

  private frameDone(stream: string): void {
    const listeners = this.frameDoneListeners.get(stream);
    if (!listeners) return;
    for (const cb of [...listeners]) {
      try {
        cb();
      } catch (err) {
        this.log.error({ err, stream }, 'a frame-done listener threw');
      }
    }
  }
}
