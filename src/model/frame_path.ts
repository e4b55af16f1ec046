import type { Logger } from 'pino';
import type { EventBus } from '../bus.ts';
import type { Frame } from '../frames.ts';
import { checkView, sameView, type FrameView } from '../decode/filter.ts';
import type { EngineOptions } from './engine_options.ts';
import { groupIndices } from './groups.ts';
import type { Lines } from './lines.ts';
import type { Model } from './model.ts';
import { StreamContext } from './stream_context.ts';
import type { StreamSlot } from './stream_slot.ts';
import { gatherTokens, temporalRuleFor, TokenDrop, type TemporalRule } from './temporal_drop.ts';
import { DEFAULT_WORLD_WATCH, WorldWatch, type Recognition, type WorldWatchOptions } from './world_watch.ts';

/** A frame of a batch on its way through the decoder. */
interface Row {
  slot: StreamSlot;
  frame: Frame;
  embeds: Float32Array;
  /** Vision tokens fed (the temporal drop may keep some out). */
  fed: number;
}

/**
 * The per-frame path, for a batch of streams' frames: 1. vision encoder and the in-world score;
 * 2. each stream's decoder step into its own cache (rows of one token count batched together);
 * 3. the speak / stay-silent decision; 4. the lines of those that speak, generated together and
 * handed to Lines. Also the door a frame comes in by (right size, right view).
 */
export class FramePath {
  /** The part of the screen the package's frames must show (manifest frame.view); undefined: the whole frame. */
  readonly frameView: FrameView | undefined;
  private readonly watchOptions: WorldWatchOptions | null;
  /** The drop rule streams run (null: every frame feeds all its tokens); decided once, by temporalRuleFor. */
  private readonly temporalRule: TemporalRule | null;
  private readonly decisionLatencies: number[] = [];

  constructor(
    private readonly model: Model,
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly opts: Pick<EngineOptions, 'threshold' | 'thresholds' | 'world' | 'temporal'>,
    private readonly lines: Lines,
    /** A fresh decoder context for a stream (its cache starts over when the world is left). */
    private readonly newContext: (stream: string) => StreamContext,
    /** Tells the engine a stream's frame is done with (decided, out of world, rejected). */
    private readonly frameDone: (stream: string) => void,
  ) {
    const view = model.manifest.frame.view;
    this.frameView = view ? checkView(view) : undefined;
    const w = model.manifest.world;
    this.watchOptions = model.knowsItsWorld && w ? { ...DEFAULT_WORLD_WATCH, threshold: w.threshold, ...opts.world } : null;
    this.temporalRule = temporalRuleFor(model.manifest, opts.temporal);
    if (model.manifest.temporal) log.info(`temporal token drop ${this.temporalRule ? 'on' : 'off'} (model.temporal ${opts.temporal})`);
    if (model.manifest.kind === 'general') log.info(`model package ${model.manifest.name} is a general (open-vocabulary) model: it talks about any stream; it has no in-world score, so every line is checked by the line guards alone`);
    else if (!this.watchOptions) log.warn(`model package ${model.manifest.name} has no in-world score: it cannot tell when a stream shows something it does not know (the line guards still apply)`);
  }

  /** A stream's world watch; null when the package has no in-world score. */
  newWatch(): WorldWatch | null {
    return this.watchOptions && new WorldWatch(this.watchOptions);
  }

  /** A stream's temporal token drop; null when the package has no `temporal` block or it is off. */
  newDrop(): TokenDrop | null {
    const m = this.model.manifest;
    return this.temporalRule ? new TokenDrop(this.temporalRule, m.frame.width, m.frame.height, m.vision.grid!) : null;
  }

  /** Recent frame->decision latencies (ms), newest last, at most 1000. */
  get latencies(): readonly number[] {
    return this.decisionLatencies;
  }

  /** Whether a frame can go to this model: its size and view; a wrong one is counted and logged once per stream. */
  accepts(slot: StreamSlot, frame: Frame): boolean {
    // A view the search found or the config pinned is this package's picture elsewhere on the canvas.
    const wrongView = !frame.placed && !sameView(frame.view, this.frameView);
    if (frame.data.byteLength === this.model.frameBytes && !wrongView) return true;
    slot.stats.framesRejected++;
    if (!slot.warnedSize) {
      slot.warnedSize = true;
      const m = this.model.manifest.frame;
      if (wrongView) {
        this.log.warn({ stream: frame.stream, view: frame.view ?? 'whole frame', expected: this.frameView ?? 'whole frame' },
          'frame decoded through another view dropped: give the ingest node and the model workers the same model.package (logged once per stream)');
      } else {
        this.log.warn({ stream: frame.stream, bytes: frame.data.byteLength, expected: this.model.frameBytes }, `frame of the wrong size dropped: the model needs ${m.width}x${m.height} RGB (logged once per stream)`);
      }
    }
    return false;
  }

  /** Takes each slot's pending frame through the whole path. */
  async run(slots: StreamSlot[]): Promise<void> {
    if (slots.length === 0) return;
    const t0 = performance.now();
    const frames = slots.map((s) => s.pending!);
    for (const s of slots) s.pending = null;
    // 1. the vision encoder, and the in-world score of each frame (it reads the bare embeddings)
    const embeds = await this.model.encodeFrames(frames.map((f) => f.data));
    const scores = this.watchOptions ? await this.model.scoreWorld(embeds, frames.length) : null;
    const V = this.model.manifest.vision.tokensPerFrame;
    const d = this.model.manifest.decoder.dModel;
    // frames outside the package's world end here; the temporal drop picks each frame's tokens
    const rows: Row[] = [];
    slots.forEach((slot, i) => {
      const frame = frames[i]!;
      if (slot.ended || !this.inWorld(slot, frame, scores?.[i], t0)) return;
      const e = embeds.subarray(i * V * d, (i + 1) * V * d);
      const fed = slot.drop ? slot.drop.step(frame.data) : null;
      rows.push({ slot, frame, embeds: slot.ctx.frameInput(fed ? gatherTokens(e, fed, V, d) : e), fed: fed?.length ?? V });
    });
    // 2. one decoder run per token count (issue 16: per-op overhead is paid once per batch); rows
    // feeding the same number of tokens (vision and separator) share it, a row with a count of its own runs alone
    const pSilent = new Array<number | Error>(rows.length);
    for (const group of groupIndices(rows, (r) => r.embeds.length)) {
      const items = group.map((i) => rows[i]!);
      const out = await batchOrEach(items,
        () => StreamContext.stepFrames(this.model, items.map(({ slot, embeds: e }) => ({ ctx: slot.ctx, embeds: e }))),
        ({ slot, embeds: e }) => slot.ctx.stepFrame(e));
      group.forEach((i, k) => (pSilent[i] = out[k]!));
    }
    // 3. each stream decides
    const speakers: { slot: StreamSlot; frame: Frame }[] = [];
    rows.forEach(({ slot, frame, fed }, i) => {
      const r = pSilent[i]!;
      if (r instanceof Error) {
        // One stream's failure (or its end racing a step) never touches another stream.
        if (!slot.ended) this.log.error({ err: r, stream: slot.name }, 'model step failed; frame skipped');
        slot.drop?.reset(); // the rule counted this frame's tokens as fed: feed the next one whole
        return;
      }
      slot.stats.tokensFed += fed;
      slot.stats.tokensSkipped += V - fed;
      if (!slot.ended && this.decide(slot, frame, r, t0)) speakers.push({ slot, frame });
    });
    // 4. those that speak generate their lines together
    if (speakers.length === 0) return;
    const prompt = [...this.model.prompts.commentary];
    const after = this.model.prompts.afterLine('commentary');
    const lines = await batchOrEach(speakers,
      () => StreamContext.generateMany(this.model, speakers.map((s) => s.slot.ctx), prompt, speakers.map(() => [...after])),
      ({ slot }) => slot.ctx.generate(prompt, [...after]));
    speakers.forEach(({ slot, frame }, i) => {
      const gen = lines[i]!;
      if (gen instanceof Error) {
        if (!slot.ended) this.log.error({ err: gen, stream: slot.name }, 'generating a line failed; nothing said');
      } else if (!slot.ended) this.lines.say(slot, frame, gen);
    });
  }

  /** The in-world check of one frame (the score read once, here); false when the frame goes no further. */
  private inWorld(slot: StreamSlot, frame: Frame, score: number | undefined, t0: number): boolean {
    slot.lastStreamTimeMs = frame.streamTimeMs;
    if (!slot.watch || score === undefined) return true;
    const changed = slot.watch.observe(frame.streamTimeMs, score);
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
  private decide(slot: StreamSlot, frame: Frame, pSilent: number, t0: number): boolean {
    const now = performance.now();
    slot.stats.lastStepMs = now - t0;
    slot.stats.framesProcessed++;
    slot.stats.lastPSilent = pSilent;
    slot.rememberFrame(frame.streamTimeMs);
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
      this.lines.dropped(slot, 'commentary', 'out_of_world', '');
      return false;
    }
    return true;
  }

  /** One status event and one log line per change; the cache starts over when the world is left. */
  private recognitionChanged(slot: StreamSlot, now: Recognition, streamTimeMs: number): void {
    slot.stats.content = now;
    const name = this.model.manifest.name;
    if (now === 'unrecognised') {
      slot.restartContext(this.newContext(slot.name));
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
