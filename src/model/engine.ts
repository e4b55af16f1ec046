import type { Logger } from 'pino';
import { BrainError, type AnswerResult, type AskRequest, type Brain, type SummaryResult } from '../brain.ts';
import type { EventBus } from '../bus.ts';
import type { Config } from '../config/schema.ts';
import { newEventId } from '../events.ts';
import type { Frame } from '../frames.ts';
import { checkView, sameView, type FrameView } from '../decode/filter.ts';
import { OPEN_HELP } from '../questions/kinds.ts';
import type { CacheLimits } from './kv_cache.ts';
import { DROP_REASONS, guardRulesFor, StreamLineGuard, type DropReason, type LineGuardRules, type LineKind } from './line_guard.ts';
import { frameStepTokens } from './manifest.ts';
import type { Model } from './model.ts';
import { groupIndices } from './groups.ts';
import { StreamContext, type Generated } from './stream_context.ts';
import type { Recall, RecallRule } from './recall.ts';
import { composeSummary, SaidLog } from './summary.ts';
import { gatherTokens, temporalRuleFor, TokenDrop, type TemporalMode, type TemporalRule } from './temporal_drop.ts';
import { DEFAULT_WORLD_WATCH, WorldWatch, type Recognition, type WorldWatchOptions } from './world_watch.ts';

/** Options of the embedded model engine; every field has a default in DEFAULT_ENGINE_OPTIONS. */
export interface EngineOptions {
  /** Respond when P(silent) < threshold; defaults to the manifest's decision.threshold. */
  threshold?: number;
  /** Per-stream overrides of the threshold, by stream name. */
  thresholds: Record<string, number>;
  /** Cache limits; sinkTokens and windowFrames default to the manifest's `cache` block. */
  limits: Partial<CacheLimits>;
  maxResponseTokens: number;
  /** Frames encoded together by the vision graph (across streams). */
  maxVisionBatch: number;
  askTimeoutMs: number;
  /** When a stream counts as outside / back inside the package's world; threshold from the manifest. */
  world: Partial<WorldWatchOptions>;
  /** Guard overrides (config); the rest comes from the manifest (line_guard.ts). */
  guards: Partial<Pick<LineGuardRules, 'repeatWindowMs' | 'minMeanLogprob'>>;
  /** The answer to every question while the stream shows something the model does not know. */
  honestAnswer: string;
  /** The temporal token drop: auto = as the package says (temporal_drop.ts temporalRuleFor). */
  temporal: TemporalMode;
  /** Sees every generated line with its guard verdict (calibration and benches; must not block). */
  observeLine?: (line: ObservedLine) => void;
}

export interface ObservedLine {
  stream: string;
  kind: LineKind;
  text: string;
  meanLogprob: number;
  tokens: number;
  streamTimeMs: number;
  /** Why it was not said; null when it was. */
  dropped: DropReason | null;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  thresholds: {},
  limits: { maxStepTokens: 64 },
  maxResponseTokens: 48,
  maxVisionBatch: 8,
  askTimeoutMs: 15_000,
  world: {},
  guards: {},
  temporal: 'auto',
  honestAnswer: "I can't see that in this stream: what is on screen is not something this model knows.",
};

/** Said to an asker when the model's own answer did not pass the guards. */
const UNSURE_ANSWER = "I can't tell from what I have seen.";

/** The engine options the config sets: the decision threshold and its per-stream overrides, the temporal drop. */
export function engineOptionsFromConfig(config: Pick<Config, 'model' | 'streams'>): Partial<EngineOptions> {
  const thresholds: Record<string, number> = {};
  for (const s of config.streams) if (s.threshold !== undefined) thresholds[s.name] = s.threshold;
  return { threshold: config.model.threshold, thresholds, temporal: config.model.temporal };
}

/**
 * Cache limits for a model: the manifest's sinks, window and text tokens, within the positions the
 * model was trained on (contiguous positions stay below maxPositions).
 */
export function cacheLimitsFor(model: Model, wanted: Partial<CacheLimits> = {}): CacheLimits {
  const m = model.manifest;
  const c = m.cache ?? {};
  // A general package's sinks are its start prompt (system prompt and all), as in StreamingLLM.
  const sinkTokens = wanted.sinkTokens ?? c.sinkTokens ?? (m.prompt ? model.prompts.start.length : 8);
  const windowFrames = wanted.windowFrames ?? c.windowFrames ?? 120;
  const maxStepTokens = wanted.maxStepTokens ?? 64;
  const V = frameStepTokens(m);
  const room = (m.decoder.maxPositions ?? Infinity) - sinkTokens - windowFrames * V - maxStepTokens - V;
  // Text slots: what the model saw in training (manifest), else 512. Every slot costs attention
  // work on every step, used or not, so a budget far above what the model was trained with only
  // slows each frame (and a dense layer more than a routed one).
  const textBudget = Math.max(0, Math.min(wanted.textBudget ?? c.textTokens ?? 512, room));
  return { sinkTokens, windowFrames, textBudget, maxStepTokens };
}

interface Job {
  id: string;
  kind: 'ask' | 'summary';
  prompt: number[];
  req?: AskRequest;
  /** A memory question the package answers from what was said (recall.ts); the model answers when that finds nothing. */
  recall?: RecallRule;
  resolve(text: string, streamTimeMs: number): void;
  reject(err: Error): void;
}

/** Per-stream counters the engine owns; read by /metrics and /api/streams. */
export interface EngineStreamStats {
  framesProcessed: number;
  framesSkipped: number;
  framesRejected: number;
  lines: number;
  answers: number;
  lastStepMs: number;
  /** Frame decoded -> decision made, last value, ms. */
  lastDecisionLatencyMs: number;
  /** The model's P(silent) after the last frame. */
  lastPSilent: number;
  /** Frames outside the package's world (counted in framesProcessed too; not fed to the decoder). */
  framesOutOfWorld: number;
  /** Whether the stream shows the package's world; always 'recognised' for a package without an in-world score. */
  content: Recognition;
  /** The last frame's in-world score (1 for a package without one). */
  inWorldScore: number;
  /** Generated lines that were not said, by the guard rule that stopped them. */
  linesDropped: Record<DropReason, number>;
  /** Vision tokens of decided frames that went to the decoder, and that the temporal drop kept out (always 0 without a `temporal` block). */
  tokensFed: number;
  tokensSkipped: number;
}

interface Slot {
  name: string;
  ctx: StreamContext;
  pending: Frame | null;
  jobs: Job[];
  said: SaidLog;
  lastStreamTimeMs: number;
  /** Stream times of the frames in the KV cache, oldest first: a summary's context starts at [0]. */
  contextFrameTimesMs: number[];
  stats: EngineStreamStats;
  warnedSize: boolean;
  /** Null when the package has no in-world score. */
  watch: WorldWatch | null;
  guard: StreamLineGuard;
  /** Wall time of the last "line dropped" log line (at most one a minute per stream). */
  lastDropLogMs: number;
  /** The temporal token drop's state for this stream's cache; null when the package has no `temporal`. */
  drop: TokenDrop | null;
}

/**
 * Runs the model for every live stream in this process: batches vision across streams, steps
 * each stream's decoder into its own cache, decides, speaks, answers. One loop owns all model
 * work, so per-stream state is never touched concurrently.
 */
export class ModelEngine implements Brain {
  private readonly opts: EngineOptions;
  private readonly limits: CacheLimits;
  private readonly guardRules: LineGuardRules;
  /** The drop rule streams run (null: every frame feeds all its tokens); decided once, by temporalRuleFor. */
  private readonly temporalRule: TemporalRule | null;
  /** The package's memory-question rules; null when it has none. */
  private readonly recall: Recall | null;
  /** The part of the screen the package's frames must show (manifest frame.view); undefined: the whole frame. */
  readonly frameView: FrameView | undefined;
  private readonly watchOptions: WorldWatchOptions | null;
  private readonly slots = new Map<string, Slot>();
  private readonly ended = new Set<string>();
  private readonly answered = new Map<string, Promise<AnswerResult>>();
  private wake: (() => void) | null = null;
  private readonly frameDoneListeners = new Map<string, Set<() => void>>();
  private closed = false;
  private readonly loopDone: Promise<void>;
  private readonly decisionLatencies: number[] = [];
  private readonly lineLatencies: number[] = [];

  constructor(private readonly model: Model, private readonly bus: EventBus, private readonly log: Logger, opts: Partial<EngineOptions> = {}) {
    this.opts = { ...DEFAULT_ENGINE_OPTIONS, ...opts, limits: { ...DEFAULT_ENGINE_OPTIONS.limits, ...opts.limits } };
    this.limits = cacheLimitsFor(model, this.opts.limits);
    const gen = (model.manifest as { generation?: { maxNewTokens?: number } }).generation?.maxNewTokens;
    if (gen) this.opts.maxResponseTokens = Math.min(this.opts.maxResponseTokens, gen);
    this.guardRules = guardRulesFor(model.manifest, this.opts.guards);
    this.recall = model.pkg.recall;
    const view = model.manifest.frame.view;
    this.frameView = view ? checkView(view) : undefined;
    const w = model.manifest.world;
    this.watchOptions = model.knowsItsWorld && w ? { ...DEFAULT_WORLD_WATCH, threshold: w.threshold, ...this.opts.world } : null;
    this.temporalRule = temporalRuleFor(model.manifest, this.opts.temporal);
    if (model.manifest.temporal) log.info(`temporal token drop ${this.temporalRule ? 'on' : 'off'} (model.temporal ${this.opts.temporal})`);
    if (model.manifest.kind === 'general') log.info(`model package ${model.manifest.name} is a general (open-vocabulary) model: it talks about any stream; it has no in-world score, so every line is checked by the line guards alone`);
    else if (!this.watchOptions) log.warn(`model package ${model.manifest.name} has no in-world score: it cannot tell when a stream shows something it does not know (the line guards still apply)`);
    this.loopDone = this.loop();
  }

  /** Starts model work for a stream; frames go in through `offer`. Idempotent per name. */
  open(stream: string): void {
    if (this.slots.has(stream)) return;
    this.ended.delete(stream);
    this.slots.set(stream, {
      name: stream, ctx: this.newContext(stream), pending: null, jobs: [], said: new SaidLog(), lastStreamTimeMs: 0, contextFrameTimesMs: [],
      stats: {
        framesProcessed: 0, framesSkipped: 0, framesRejected: 0, lines: 0, answers: 0, lastStepMs: 0, lastDecisionLatencyMs: 0, lastPSilent: 1,
        framesOutOfWorld: 0, content: 'recognised', inWorldScore: 1, linesDropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
        tokensFed: 0, tokensSkipped: 0,
      },
      warnedSize: false,
      watch: this.watchOptions && new WorldWatch(this.watchOptions),
      guard: new StreamLineGuard(this.guardRules, (id) => this.model.digitMask[id] === 1),
      lastDropLogMs: -Infinity,
      drop: this.newDrop(),
    });
  }

  /** Hands a frame to the model. Never blocks: a frame still waiting is replaced and counted as skipped. */
  offer(frame: Frame): void {
    const slot = this.slots.get(frame.stream);
    if (!slot) return;
    const m = this.model.manifest.frame;
    const wrongView = !sameView(frame.view, this.frameView);
    if (frame.data.byteLength !== this.model.frameBytes || wrongView) {
      slot.stats.framesRejected++;
      if (!slot.warnedSize) {
        slot.warnedSize = true;
        if (wrongView) {
          this.log.warn({ stream: frame.stream, view: frame.view ?? 'whole frame', expected: this.frameView ?? 'whole frame' },
            'frame decoded through another view dropped: give the ingest node and the model workers the same model.package (logged once per stream)');
        } else {
          this.log.warn({ stream: frame.stream, bytes: frame.data.byteLength, expected: this.model.frameBytes }, `frame of the wrong size dropped: the model needs ${m.width}x${m.height} RGB (logged once per stream)`);
        }
      }
      this.frameDone(frame.stream);
      return;
    }
    if (slot.pending) {
      slot.stats.framesSkipped++;
      this.frameDone(frame.stream);
    }
    slot.pending = frame;
    this.kick();
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
    this.ended.add(stream);
    for (const j of slot.jobs) j.reject(new BrainError('STREAM_ENDED', `stream ${stream} ended before the question was answered`));
    slot.jobs = [];
    slot.ctx.dispose();
    this.endedSaid.set(stream, { said: slot.said, lastMs: slot.lastStreamTimeMs });
    this.frameDone(stream);
  }

  private readonly endedSaid = new Map<string, { said: SaidLog; lastMs: number }>();

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
    return this.decisionLatencies;
  }

  /** Recent frame->commentary-published latencies (ms): decision plus generating the line. */
  get commentaryLatencies(): readonly number[] {
    return this.lineLatencies;
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
    const answerAtOnce = (answer: string): Promise<AnswerResult> => {
      const event = this.bus.publish({ stream: req.stream, kind: 'answer', text: answer, streamTimeMs: slot.lastStreamTimeMs, question, user: req.user, source: req.source, id: `a-${id}` });
      slot.stats.answers++;
      const p = Promise.resolve({ answer, t: slot.lastStreamTimeMs, event });
      this.answered.set(id, p);
      if (this.answered.size > 1000) this.answered.delete(this.answered.keys().next().value!);
      return p;
    };
    // Nothing the model could say about this picture is worth hearing: answer honestly, at once.
    if (slot.watch && !slot.watch.trusted) return answerAtOnce(this.opts.honestAnswer);
    // A closed package answers its question kinds only, each in the wording it was trained on
    // (src/questions/kinds.ts); a question of none of them gets what can be asked, never a guess.
    const kinds = this.model.pkg.questions;
    const kind = kinds?.understand(question).kind ?? null;
    if (kinds && !kind) return answerAtOnce(kinds.help);
    const recall = this.recall?.forKind(kind?.kind ?? null) ?? undefined;
    const prompt = this.model.prompts.question(kind?.question ?? question, this.limits.maxStepTokens);
    const p = this.enqueue(slot, { kind: 'ask', prompt, recall, req: { ...req, id, question } }, signal).then(({ text, streamTimeMs }) => {
      const answer = text.length > 0 ? text : UNSURE_ANSWER;
      const event = this.bus.publish({ stream: req.stream, kind: 'answer', text: answer, streamTimeMs, question, user: req.user, source: req.source, id: `a-${id}` });
      slot.stats.answers++;
      return { answer, t: streamTimeMs, event };
    });
    this.answered.set(id, p);
    if (this.answered.size > 1000) this.answered.delete(this.answered.keys().next().value!);
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
      const lines = ended.said.between(from, ended.lastMs + 1);
      const summary = composeSummary({ fromMs: from, toMs: ended.lastMs, contextStartMs: ended.lastMs + 1, older: lines, recent: null, recentLines: [] });
      this.bus.publish({ stream, kind: 'summary', text: summary, streamTimeMs: ended.lastMs });
      return { summary, from, to: ended.lastMs };
    }
    // Outside its world the model's own recap of the window would be invented: summarise what was said.
    const { text, streamTimeMs } = slot.watch && !slot.watch.trusted
      ? { text: '', streamTimeMs: slot.lastStreamTimeMs }
      : await this.enqueue(slot, { kind: 'summary', prompt: [...this.model.prompts.summary] }, signal);
    const from = Math.max(0, streamTimeMs - windowMs);
    const contextStartMs = slot.contextFrameTimesMs[0] ?? 0;
    const summary = composeSummary({
      fromMs: from, toMs: streamTimeMs, contextStartMs,
      older: slot.said.between(from, contextStartMs), recent: text, recentLines: slot.said.between(Math.max(from, contextStartMs), streamTimeMs + 1),
    });
    this.bus.publish({ stream, kind: 'summary', text: summary, streamTimeMs });
    return { summary, from, to: streamTimeMs };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const name of [...this.slots.keys()]) this.end(name);
    this.kick();
    await this.loopDone;
  }

  private liveSlot(stream: string): Slot {
    const slot = this.slots.get(stream);
    if (slot) return slot;
    if (this.ended.has(stream)) throw new BrainError('STREAM_ENDED', `stream ${stream} has ended`);
    throw new BrainError('UNKNOWN_STREAM', `stream ${stream} is not live`);
  }

  private enqueue(slot: Slot, job: Omit<Job, 'id' | 'resolve' | 'reject'>, signal?: AbortSignal): Promise<{ text: string; streamTimeMs: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new BrainError('TIMEOUT', `no answer within ${this.opts.askTimeoutMs} ms`)), this.opts.askTimeoutMs);
      const onAbort = () => done(new BrainError('TIMEOUT', 'the request was cancelled'));
      const done = (err: Error | null, text = '', ms = 0) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = slot.jobs.indexOf(entry);
        if (i >= 0) slot.jobs.splice(i, 1);
        if (err) reject(err);
        else resolve({ text, streamTimeMs: ms });
      };
      const entry: Job = { ...job, id: newEventId(), resolve: (text, ms) => done(null, text, ms), reject: (err) => done(err) };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      slot.jobs.push(entry);
      this.kick();
    });
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      const all = [...this.slots.values()];
      const ready = all.filter((s) => s.pending || s.jobs.length > 0);
      if (ready.length === 0) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      // Rotate where the vision batch starts, so that beyond maxVisionBatch streams every
      // stream still gets its turn (skipping frames evenly) instead of the first few starving.
      const withFrames = ready.filter((s) => s.pending);
      const start = withFrames.length ? this.turn++ % withFrames.length : 0;
      const batch = [...withFrames.slice(start), ...withFrames.slice(0, start)].slice(0, this.opts.maxVisionBatch);
      try {
        await this.runFrames(batch);
      } catch (err) {
        this.log.error({ err }, 'vision encoder failed; the frames of this batch are skipped');
      }
      for (const s of ready) if (this.slots.get(s.name) === s && s.jobs.length > 0) await this.runJob(s, s.jobs[0]!);
    }
  }

  private turn = 0;

  private async runFrames(slots: Slot[]): Promise<void> {
    if (slots.length === 0) return;
    const t0 = performance.now();
    const frames = slots.map((s) => s.pending!);
    for (const s of slots) s.pending = null;
    const embeds = await this.model.encodeFrames(frames.map((f) => f.data));
    const scores = this.watchOptions ? await this.model.scoreWorld(embeds, frames.length) : null;
    const V = this.model.manifest.vision.tokensPerFrame;
    const d = this.model.manifest.decoder.dModel;
    const live = (slot: Slot) => this.slots.get(slot.name) === slot; // false once ended meanwhile
    // 1. frames outside the package's world end here; the temporal drop picks each frame's tokens
    const step: { slot: Slot; frame: Frame; embeds: Float32Array; fed: number }[] = [];
    slots.forEach((slot, i) => {
      if (!live(slot) || !this.admit(slot, frames[i]!, scores?.[i], t0)) return;
      const e = embeds.subarray(i * V * d, (i + 1) * V * d);
      this.model.clock?.stamp(e, frames[i]!.streamTimeMs); // after the in-world score, which reads the bare embeddings
      slot.ctx.clockMs = frames[i]!.streamTimeMs; // and what is said after this frame carries its time
      const fed = slot.drop ? slot.drop.step(frames[i]!.data) : null;
      step.push({ slot, frame: frames[i]!, embeds: slot.ctx.frameInput(fed ? gatherTokens(e, fed, V, d) : e), fed: fed?.length ?? V });
    });
    // 2. one decoder run per token count (issue 16: per-op overhead is paid once per batch); rows
    // feeding the same number of tokens (vision and separator) share it, a row with a count of its own runs alone
    const results = new Array<number | Error>(step.length);
    for (const rows of groupIndices(step, (s) => s.embeds.length)) {
      const items = rows.map((i) => step[i]!);
      const out = await batchOrEach(items,
        () => StreamContext.stepFrames(this.model, items.map(({ slot, embeds: e }) => ({ ctx: slot.ctx, embeds: e }))),
        ({ slot, embeds: e }) => slot.ctx.stepFrame(e));
      rows.forEach((i, k) => (results[i] = out[k]!));
    }
    // 3. each stream decides; those that speak generate their lines together
    const speakers: { slot: Slot; frame: Frame }[] = [];
    for (let i = 0; i < step.length; i++) {
      const { slot, frame, fed } = step[i]!;
      const r = results[i]!;
      if (r instanceof Error) {
        // One stream's failure (or its end racing a step) never touches another stream.
        if (live(slot)) this.log.error({ err: r, stream: slot.name }, 'model step failed; frame skipped');
        slot.drop?.reset(); // the rule counted this frame's tokens as fed: feed the next one whole
        continue;
      }
      slot.stats.tokensFed += fed;
      slot.stats.tokensSkipped += V - fed;
      if (live(slot) && this.decide(slot, frame, r, t0)) speakers.push({ slot, frame });
    }
    if (speakers.length === 0) return;
    const prompt = [...this.model.prompts.commentary];
    const stamped = speakers.map((s) => ({ ...s, stamp: this.model.prompts.afterLine('commentary', s.frame.streamTimeMs) }));
    const lines = await batchOrEach(stamped,
      () => StreamContext.generateMany(this.model, stamped.map((s) => s.slot.ctx), prompt, stamped.map((s) => s.stamp)),
      ({ slot, stamp }) => slot.ctx.generate(prompt, stamp));
    speakers.forEach(({ slot, frame }, i) => {
      const gen = lines[i]!;
      if (gen instanceof Error) {
        if (live(slot)) this.log.error({ err: gen, stream: slot.name }, 'generating a line failed; nothing said');
      } else if (live(slot)) this.say(slot, frame, gen);
    });
  }

  /** The in-world check of one frame; false when the frame goes no further (outside the world). */
  private admit(slot: Slot, frame: Frame, inWorld: number | undefined, t0: number): boolean {
    slot.lastStreamTimeMs = frame.streamTimeMs;
    if (!slot.watch || inWorld === undefined) return true;
    const changed = slot.watch.observe(frame.streamTimeMs, inWorld);
    slot.stats.inWorldScore = slot.watch.lastScore;
    if (changed) this.recognitionChanged(slot, changed, frame.streamTimeMs);
    if (slot.watch.frameInWorld) return true;
    // Not the model's world: nothing to learn from it, and it would fill the cache with noise.
    slot.stats.framesProcessed++;
    slot.stats.framesOutOfWorld++;
    slot.stats.lastStepMs = performance.now() - t0;
    this.recordLatency(performance.now() - frame.decodedAt);
    this.frameDone(slot.name);
    return false;
  }

  /** Records the decoder's verdict on a frame; true when the stream should speak now. */
  private decide(slot: Slot, frame: Frame, pSilent: number, t0: number): boolean {
    const now = performance.now();
    slot.stats.lastStepMs = now - t0;
    slot.stats.framesProcessed++;
    slot.stats.lastPSilent = pSilent;
    slot.contextFrameTimesMs.push(frame.streamTimeMs);
    if (slot.contextFrameTimesMs.length > slot.ctx.cache.framesKept) slot.contextFrameTimesMs.splice(0, slot.contextFrameTimesMs.length - slot.ctx.cache.framesKept);
    slot.stats.lastDecisionLatencyMs = now - frame.decodedAt;
    this.recordLatency(now - frame.decodedAt);
    this.frameDone(slot.name);
    const threshold = this.opts.thresholds[slot.name] ?? this.opts.threshold ?? this.model.manifest.decision?.threshold ?? 0.5;
    if (pSilent >= threshold) {
      slot.guard.silentFrame();
      return false;
    }
    if (slot.watch && slot.watch.state === 'unrecognised') {
      // Back in the world, but not for long enough yet: the cache warms up, nobody hears it.
      this.dropped(slot, 'commentary', 'out_of_world', '');
      return false;
    }
    return true;
  }

  /** A generated commentary line: through the guards, then out. */
  private say(slot: Slot, frame: Frame, gen: Generated): void {
    const text = this.model.codec.decode(gen.ids);
    if (text.length === 0 || !this.vet(slot, 'commentary', gen, text, frame.streamTimeMs)) return;
    slot.said.add({ streamTimeMs: frame.streamTimeMs, text });
    slot.stats.lines++;
    this.bus.publish({ stream: slot.name, kind: 'commentary', text, streamTimeMs: frame.streamTimeMs });
    this.lineLatencies.push(performance.now() - frame.decodedAt);
    if (this.lineLatencies.length > 1000) this.lineLatencies.shift();
  }

  private async runJob(slot: Slot, job: Job): Promise<void> {
    try {
      // Run here, in turn with the frames, so it sees every line said before the question's moment.
      const recalled = job.recall ? this.recall!.answer(job.recall, slot.said, slot.lastStreamTimeMs) : null;
      if (recalled !== null) return job.resolve(recalled, slot.lastStreamTimeMs);
      const kind = job.kind === 'ask' ? 'answer' : 'summary';
      const gen = await slot.ctx.generate(job.prompt, this.model.prompts.afterLine(kind, slot.lastStreamTimeMs));
      const text = this.model.codec.decode(gen.ids);
      const ok = this.vet(slot, kind, gen, text, slot.lastStreamTimeMs);
      job.resolve(ok ? text : '', slot.lastStreamTimeMs);
    } catch (err) {
      job.reject(err as Error);
    }
  }

  private newContext(stream: string): StreamContext {
    return new StreamContext(stream, this.model, { limits: this.limits, maxResponseTokens: this.opts.maxResponseTokens });
  }

  private newDrop(): TokenDrop | null {
    const m = this.model.manifest;
    return this.temporalRule ? new TokenDrop(this.temporalRule, m.frame.width, m.frame.height, m.vision.grid!) : null;
  }

  /** One status event and one log line per change; the cache starts over when the world is left. */
  private recognitionChanged(slot: Slot, now: Recognition, streamTimeMs: number): void {
    slot.stats.content = now;
    const name = this.model.manifest.name;
    if (now === 'unrecognised') {
      slot.ctx.dispose();
      slot.ctx = this.newContext(slot.name);
      slot.drop?.reset(); // a fresh cache has none of the cells the rule remembers
      slot.contextFrameTimesMs = [];
      const text = `${name} does not recognise what is on this stream: commentary is paused and questions get an honest "I can't see that" until it does. ` +
        `This model only knows the world it was trained on; for other content use a package trained for it (models/README.md, "teach kibitz your game").`;
      this.log.warn({ stream: slot.name, inWorldScore: round2(slot.watch!.lastScore), threshold: this.watchOptions!.threshold }, text);
      this.bus.publish({ stream: slot.name, kind: 'status', status: 'unrecognised', text, streamTimeMs });
    } else {
      const text = `${name} recognises this stream again: commentary resumes.`;
      this.log.info({ stream: slot.name }, text);
      this.bus.publish({ stream: slot.name, kind: 'status', status: 'recognised', text, streamTimeMs });
    }
  }

  /** Every generated line passes here: the guards decide, the observer sees it, a refusal is counted. */
  private vet(slot: Slot, kind: LineKind, gen: Generated, text: string, streamTimeMs: number): boolean {
    const bad = slot.guard.check(kind, { ...gen, text }, streamTimeMs);
    this.opts.observeLine?.({ stream: slot.name, kind, text, meanLogprob: gen.meanLogprob, tokens: gen.ids.length, streamTimeMs, dropped: bad });
    if (bad) this.dropped(slot, kind, bad, text);
    return bad === null;
  }

  /** Counts a line the guards stopped; logs at most one a minute per stream. */
  private dropped(slot: Slot, kind: LineKind, reason: DropReason, text: string): void {
    slot.stats.linesDropped[reason]++;
    const now = Date.now();
    if (now - slot.lastDropLogMs < 60_000) return;
    slot.lastDropLogMs = now;
    this.log.info({ stream: slot.name, kind, reason, text: text.slice(0, 80), dropped: slot.stats.linesDropped },
      `a generated ${kind} was not said (${reason.replace(/_/g, ' ')}); counted in kibitz_model_lines_dropped (logged at most once a minute per stream)`);
  }

  private recordLatency(ms: number): void {
    this.decisionLatencies.push(ms);
    if (this.decisionLatencies.length > 1000) this.decisionLatencies.shift();
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * `all()` runs the items as one batch. If the batch throws, something in one stream's state broke
 * it: then each item runs alone (`one`), so a broken stream breaks only itself (its Error in place).
 */
async function batchOrEach<I, R>(items: readonly I[], all: () => Promise<R[]>, one: (item: I) => Promise<R>): Promise<(R | Error)[]> {
  try {
    return await all();
  } catch {
    const out: (R | Error)[] = [];
    for (const item of items) out.push(await one(item).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))));
    return out;
  }
}

