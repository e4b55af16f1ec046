import * as ort from 'onnxruntime-node';
import { BatchScratch, KvCache, type CacheLimits } from './kv_cache.ts';
import { groupIndices } from './groups.ts';
import { frameStepTokens } from './manifest.ts';
import type { Model } from './model.ts';

export interface StreamContextOptions {
  limits: CacheLimits;
  /** Longest line the model may say, in tokens. */
  maxResponseTokens: number;
}

/**
 * One stream's model state: its KV cache and positions. Only this object touches the stream's
 * tensors; `dispose()` releases them. Methods run one at a time (the engine serialises them).
 */
export class StreamContext {
  readonly cache: KvCache;
  private disposed = false;

  constructor(readonly stream: string, private readonly model: Model, private readonly opts: StreamContextOptions) {
    this.cache = new KvCache(model.manifest, opts.limits);
  }

  private started = false;


  /** True when the last thing fed was a frame: the next frame then gets the format's separator first. */
  private afterFrame = false;

  /** Every context begins with the format's start (closed packages: `bos`): the attention sinks the model was trained with. */
  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const start = this.model.prompts.start;
    if (start.length > 0) await this.feedText([...start]);
  }

  /**
   * What one frame step feeds for these vision embeddings ([n, d]): the format's frame separator
   * first when the last step was a frame (VideoLLM-online's ","), then the vision tokens.
   */
  frameInput(visionEmbeds: Float32Array): Float32Array {
    const prefix = this.model.separatorEmbeds;
    if (!this.afterFrame || prefix.length === 0) return visionEmbeds;
    const out = new Float32Array(prefix.length + visionEmbeds.length);
    out.set(prefix);
    out.set(visionEmbeds, prefix.length);
    return out;
  }

  /**
   * Feeds one frame to each of several streams in ONE decoder run (a batch row per stream) and
   * returns each stream's P(silent), exactly as `stepFrame` would one at a time. The rows share
   * nothing but the run: each keeps its own cache, positions and routing. Every row feeds the
   * same number of tokens (the engine groups rows by it).
   */
  static async stepFrames(model: Model, items: { ctx: StreamContext; embeds: Float32Array }[]): Promise<number[]> {
    if (items.length === 1) return [await items[0]!.ctx.stepFrame(items[0]!.embeds)];
    const m = model.manifest;
    const n = frameTokens(items[0]!.embeds, m);
    if (items.some((i) => i.embeds.length !== items[0]!.embeds.length)) throw new Error('rows of one batched frame step must feed the same number of tokens');
    const d = m.decoder.dModel;
    const B = items.length;
    for (const { ctx } of items) {
      ctx.assertOpen();
      await ctx.start();
    }
    const embeds = new Float32Array(B * n * d);
    items.forEach(({ embeds: e }, b) => embeds.set(e, b * n * d));
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor('float32', embeds, [B, n, d]),
      ...model.visionTokensFeed(Math.min(n, m.vision.tokensPerFrame)),
    };
    const out = await withScratch(model, (scratch) => {
      const positions = KvCache.prepareBatch(items.map((i) => i.ctx.cache), 'frame', n, feeds, scratch);
      feeds['positions'] = new ort.Tensor('int64', positions, [B, n]);
      return model.sessions.frame.run(feeds);
    });
    return items.map(({ ctx }, b) => {
      const row = batchRow(out, b);
      const index = new Map<number, BigInt64Array>();
      for (const l of m.decoder.routedLayers) index.set(l, row[`new_index.${l}`]!.data as BigInt64Array);
      ctx.cache.append('frame', n, row, index);
      ctx.afterFrame = true;
      return silentProbability(row['logits']!.data as Float32Array, m.tokens.silent);
    });
  }

  /**
   * Feeds one frame step ([n, d]: `frameInput` of the frame's vision embeddings, i.e. all V
   * tokens or those the temporal drop feeds, in ascending token order, after the separator when
   * there is one) and returns P(silent) after the last of them, for the decision.
   */
  async stepFrame(visionEmbeds: Float32Array): Promise<number> {
    this.assertOpen();
    await this.start();
    const m = this.model.manifest;
    const n = frameTokens(visionEmbeds, m);
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor('float32', visionEmbeds, [1, n, m.decoder.dModel]),
      ...this.model.visionTokensFeed(Math.min(n, m.vision.tokensPerFrame)),
    };
    feeds['positions'] = new ort.Tensor('int64', this.cache.prepareStep('frame', n, feeds), [1, n]);
    const out = await this.model.sessions.frame.run(feeds);
    const index = new Map<number, BigInt64Array>();
    for (const l of m.decoder.routedLayers) index.set(l, out[`new_index.${l}`]!.data as BigInt64Array);
    this.cache.append('frame', n, out, index);
    this.afterFrame = true;
    return silentProbability(out['logits']!.data as Float32Array, m.tokens.silent);
  }

  /**
   * Feeds `prompt` (special and word tokens), then greedily generates until `eos` or the length
   * cap, feeding each chosen token and finally `eos`, with `after` (the format's end of a turn) in the same
   * step. Returns the generated ids (without eos), their mean log-probability (eos included:
   * choosing to stop is part of the line) and whether the model chose to stop.
   */
  async generate(prompt: number[], after: number[] = []): Promise<Generated> {
    this.assertOpen();
    await this.start();
    const { eos } = this.model.manifest.tokens;
    let logits = await this.feedText(prompt);
    const ids: number[] = [];
    let logprobSum = 0;
    let finished = false;
    while (ids.length < this.opts.maxResponseTokens) {
      const next = argmax(logits, this.model.outputMask);
      logprobSum += logProbability(logits, next, this.model.outputMask);
      if (next === eos) {
        finished = true;
        break;
      }
      ids.push(next);
      logits = await this.stepText([next]);
    }
    await this.feedText([eos, ...after]);
    return { ids, meanLogprob: logprobSum / (ids.length + (finished ? 1 : 0) || 1), finished };
  }

  /**
   * `generate(prompt)` for several streams at once: every text step is one decoder run with a
   * row per stream still speaking; a row leaves the batch when it stops. Same tokens as one at a
   * time (each row has its own cache; greedy choice per row).
   */
  static async generateMany(model: Model, ctxs: StreamContext[], prompt: number[], after: number[][] = ctxs.map(() => [])): Promise<Generated[]> {
    if (after.length !== ctxs.length) throw new Error(`generateMany: ${ctxs.length} streams but ${after.length} stamps`);
    if (ctxs.length === 1) return [await ctxs[0]!.generate(prompt, after[0])];
    const { eos } = model.manifest.tokens;
    for (const ctx of ctxs) {
      ctx.assertOpen();
      await ctx.start();
    }
    const rows = ctxs.map((ctx) => ({ ctx, ids: [] as number[], sum: 0, finished: false, logits: new Float32Array(0) as Float32Array<ArrayBufferLike> }));
    const firsts = await StreamContext.stepTextMany(model, ctxs, ctxs.map(() => prompt));
    rows.forEach((r, i) => (r.logits = firsts[i]!));
    let speaking = rows.filter((r) => r.ctx.opts.maxResponseTokens > 0);
    while (speaking.length > 0) {
      const next: number[] = [];
      const still: typeof rows = [];
      for (const r of speaking) {
        const tok = argmax(r.logits, model.outputMask);
        r.sum += logProbability(r.logits, tok, model.outputMask);
        if (tok === eos) {
          r.finished = true;
          continue;
        }
        r.ids.push(tok);
        if (r.ids.length < r.ctx.opts.maxResponseTokens) still.push(r);
        next.push(tok);
      }
      // every row that chose a word feeds it (also the ones that just reached the cap, as generate does)
      const fed = speaking.filter((r) => !r.finished);
      if (fed.length > 0) {
        const logits = await StreamContext.stepTextMany(model, fed.map((r) => r.ctx), next.map((t) => [t]));
        fed.forEach((r, i) => (r.logits = logits[i]!));
      }
      speaking = still;
    }
    // eos and the row's stamp; rows of one length share a run (stamps differ: "at 9 seconds", "at 1 ##0 seconds")
    const ends = after.map((a) => [eos, ...a]);
    for (const group of groupIndices(ends, (e) => e.length)) {
      await StreamContext.stepTextMany(model, group.map((i) => ctxs[i]!), group.map((i) => ends[i]!));
    }
    return rows.map((r) => ({ ids: r.ids, meanLogprob: r.sum / (r.ids.length + (r.finished ? 1 : 0) || 1), finished: r.finished }));
  }

  /** One text step of the same length for several streams in one run; each row's last logits. */
  private static async stepTextMany(model: Model, ctxs: StreamContext[], ids: number[][]): Promise<Float32Array[]> {
    if (ctxs.length === 1) return [await ctxs[0]!.stepText(ids[0]!)];
    const m = model.manifest;
    const B = ctxs.length;
    const T = ids[0]!.length;
    const d = m.decoder.dModel;
    const embeds = new Float32Array(B * T * d);
    ctxs.forEach((_, b) => embeds.set(model.embed(ids[b]!).data as Float32Array, b * T * d));
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor('float32', embeds, [B, T, d]),
      ...model.visionTokensFeed(0),
    };
    const out = await withScratch(model, (scratch) => {
      const positions = KvCache.prepareBatch(ctxs.map((c) => c.cache), 'text', T, feeds, scratch);
      feeds['positions'] = new ort.Tensor('int64', positions, [B, T]);
      return model.sessions.text.run(feeds);
    });
    const vocab = m.decoder.vocab;
    return ctxs.map((ctx, b) => {
      const row = batchRow(out, b);
      ctx.cache.append('text', T, row);
      ctx.afterFrame = false;
      return lastLogits(row['logits']!.data as Float32Array, vocab);
    });
  }

  /**
   * Feeds text in steps of at most the cache's maxStepTokens (a general package's start prompt
   * can be longer than one step); the result is the same as one step, the attention being causal.
   */
  async feedText(ids: number[]): Promise<Float32Array> {
    const step = this.cache.limits.maxStepTokens;
    let logits = new Float32Array(0) as Float32Array<ArrayBufferLike>;
    for (let i = 0; i < ids.length; i += step) logits = await this.stepText(ids.slice(i, i + step));
    return logits;
  }

  /** One text step; returns the logits after the last token. */
  private async stepText(ids: number[]): Promise<Float32Array> {
    const m = this.model.manifest;
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: this.model.embed(ids),
      ...this.model.visionTokensFeed(0),
    };
    feeds['positions'] = new ort.Tensor('int64', this.cache.prepareStep('text', ids.length, feeds), [1, ids.length]);
    const out = await this.model.sessions.text.run(feeds);
    this.cache.append('text', ids.length, out);
    this.afterFrame = false;
    return lastLogits(out['logits']!.data as Float32Array, m.decoder.vocab);
  }

  dispose(): void {
    this.disposed = true;
  }

  private assertOpen(): void {
    if (this.disposed) throw new Error(`stream context ${this.stream} is disposed`);
  }
}

/** Tokens in one frame step: 1..frameStepTokens rows of dModel (vision tokens, after the package's separator). */
function frameTokens(embeds: Float32Array, m: Model['manifest']): number {
  const n = embeds.length / m.decoder.dModel;
  const most = frameStepTokens(m);
  if (!Number.isInteger(n) || n < 1 || n > most) {
    throw new Error(`a frame step takes 1..${most} tokens of ${m.decoder.dModel} floats; got ${embeds.length} floats`);
  }
  return n;
}

/** Each model's batched calls share one scratch (its batch input buffers), lent to one call at a time. */
const scratches = new WeakMap<Model, BatchScratch>();

async function withScratch<T>(model: Model, run: (scratch: BatchScratch) => Promise<T>): Promise<T> {
  let scratch = scratches.get(model);
  if (!scratch) scratches.set(model, (scratch = new BatchScratch()));
  if (!scratch.borrow()) return run(new BatchScratch()); // another batched call has it: one of our own
  try {
    return await run(scratch);
  } finally {
    scratch.giveBack();
  }
}

/** Row b of a batched run's outputs, shaped like an unbatched run's ([1, ...]); views, no copies. */
export function batchRow(out: ort.InferenceSession.ReturnType, b: number): Record<string, ort.Tensor> {
  const row: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(out)) {
    const rest = t.dims.slice(1);
    const size = rest.reduce((a, x) => a * x, 1);
    const data = (t.data as Float32Array | BigInt64Array).subarray(b * size, (b + 1) * size);
    row[name] = new ort.Tensor(t.type as 'float32', data as Float32Array, [1, ...rest]);
  }
  return row;
}

/**
 * The logits after a text step's last token: decoder_text returns every token's [1, T, vocab],
 * a frame graph that runs text steps (manifest decoder.frameGraphRunsText) only the last [1, vocab].
 */
function lastLogits(all: Float32Array, vocab: number): Float32Array {
  return all.subarray(all.length - vocab);
}

/** What `generate` returns. */
export interface Generated {
  ids: number[];
  meanLogprob: number;
  /** False when the length cap stopped it, not the model's own eos. */
  finished: boolean;
}

/** log softmax(logits)[id] over the allowed entries (mask[i] = 1). */
export function logProbability(logits: Float32Array, id: number, mask?: Uint8Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if ((!mask || mask[i]) && logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) if (!mask || mask[i]) sum += Math.exp(logits[i]! - max);
  return logits[id]! - max - Math.log(sum);
}

export function silentProbability(logits: Float32Array, silent: number): number {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  return Math.exp(logits[silent]! - max) / sum;
}

/** Index of the largest value among allowed entries (mask[i] = 1). */
export function argmax(a: Float32Array, mask?: Uint8Array): number {
  let best = -1;
  for (let i = 0; i < a.length; i++) if ((!mask || mask[i]) && (best < 0 || a[i]! > a[best]!)) best = i;
  return Math.max(best, 0);
}
