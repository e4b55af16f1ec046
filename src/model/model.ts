import * as ort from 'onnxruntime-node';
import { loadModelPackage, type Manifest, type ModelPackage } from './manifest.ts';
import { loadSessions, releaseSessions, type ModelSessions, type Provider } from './onnx.ts';
import { promptFormatFor, type PromptFormat } from './prompt_format.ts';
import { resolveThreading, type Threading, type ThreadingConfig } from './threading.ts';
import { TextCodec } from './tokenizer.ts';

export interface ModelLoadOptions {
  /** Folder of the model package (models/<name>). */
  packageDir: string;
  provider?: Provider;
  /** CPU threads; defaults to resolveThreading() for this machine and provider. */
  threading?: Partial<ThreadingConfig>;
  onFallback?: (message: string) => void;
}

/**
 * The shared, stateless half of the model: one set of ONNX sessions, the tokenizer and the
 * embedding table. Per-stream state lives in StreamContext.
 */
export class Model {
  /** 1 where generation may choose the token (words and eos). */
  readonly outputMask: Uint8Array;
  /** 1 where the token is a digit piece (numbers are spelled digit by digit). */
  readonly digitMask: Uint8Array;
  /** How this package's stream is written in tokens (prompt_format.ts). */
  readonly prompts: PromptFormat;
  /** The embeddings of the format's frame separator ([p, dModel]; empty without one), made once: every frame after a frame feeds them. */
  readonly separatorEmbeds: Float32Array;
  /** Whether decoder_frame.onnx asks how many of a step's tokens are vision tokens (a routed graph that also runs text steps). */
  private readonly takesVisionTokens: boolean;

  private constructor(
    readonly pkg: ModelPackage,
    readonly sessions: ModelSessions,
    readonly codec: TextCodec,
    /** The CPU threads its sessions were created with. */
    readonly threading: Threading,
  ) {
    this.outputMask = codec.outputMask(pkg.manifest.decoder.vocab, pkg.manifest.tokens.eos);
    this.digitMask = codec.digitMask(pkg.manifest.decoder.vocab);
    this.prompts = promptFormatFor(pkg.manifest, codec);
    this.separatorEmbeds = this.prompts.frameSeparator.length ? this.embed([...this.prompts.frameSeparator]).data as Float32Array : new Float32Array(0);
    // Only a graph that runs both kinds of step has this input, and then text and frame steps share it.
    this.takesVisionTokens = sessions.frame.inputNames.includes('vision_tokens');
  }

  static async load(opts: ModelLoadOptions): Promise<Model> {
    const pkg = loadModelPackage(opts.packageDir);
    const codec = new TextCodec(pkg);
    const provider = opts.provider ?? 'cpu';
    const threading = resolveThreading(opts.threading, provider);
    const sessions = await loadSessions(pkg, { provider, threading, onFallback: opts.onFallback });
    return new Model(pkg, sessions, codec, threading);
  }

  /** Loads `config.model` (package, provider); a provider fallback is logged as a warning. */
  static async fromConfig(model: { package?: string; provider: Provider; threads?: Partial<ThreadingConfig> }, log: { warn(msg: string): void }): Promise<Model> {
    if (!model.package) throw new Error('model.package is not set: point it at a model package folder (models/kibitz-demo)');
    return Model.load({ packageDir: model.package, provider: model.provider, threading: model.threads, onFallback: (message) => log.warn(message) });
  }

  get manifest(): Manifest {
    return this.pkg.manifest;
  }

  get frameBytes(): number {
    return this.manifest.frame.width * this.manifest.frame.height * 3;
  }

  /** Token ids -> [1, T, dModel] embeddings from the package's table. */
  embed(ids: number[]): ort.Tensor {
    const d = this.manifest.decoder.dModel;
    const out = new Float32Array(ids.length * d);
    ids.forEach((id, t) => {
      if (id < 0 || id >= this.manifest.decoder.vocab) throw new Error(`token id ${id} outside the vocabulary`);
      out.set(this.pkg.embedTokens.subarray(id * d, (id + 1) * d), t * d);
    });
    return new ort.Tensor('float32', out, [1, ids.length, d]);
  }

  /**
   * The extra feed of a decoder step whose graph asks how many of its tokens are a frame's vision
   * tokens (a general package's decoder_frame.onnx with routed layers, which also runs text
   * steps: 0): { vision_tokens } when the graph has that input, else nothing.
   */
  visionTokensFeed(visionTokens: number): Record<string, ort.Tensor> {
    if (!this.takesVisionTokens) return {};
    return { vision_tokens: new ort.Tensor('int64', BigInt64Array.of(BigInt(visionTokens)), [1]) };
  }

  /** Runs the vision encoder on N frames at once (RGB24, frame size from the manifest). Returns [N, V, d]. */
  async encodeFrames(frames: Uint8Array[]): Promise<Float32Array> {
    const { width, height } = this.manifest.frame;
    const size = width * height * 3;
    const batch = new Uint8Array(frames.length * size);
    frames.forEach((f, i) => {
      if (f.byteLength !== size) throw new Error(`frame has ${f.byteLength} bytes, expected ${width}x${height}x3 = ${size}`);
      batch.set(f, i * size);
    });
    const out = await this.sessions.vision.run({ frames: new ort.Tensor('uint8', batch, [frames.length, height, width, 3]) });
    return out['vision_embeds']!.data as Float32Array;
  }

  /** True when the package exports an in-world score (world.onnx). */
  get knowsItsWorld(): boolean {
    return this.sessions.world !== undefined;
  }

  /** P(in world) for N frames' vision embeddings ([N, V, d] from encodeFrames). */
  async scoreWorld(embeds: Float32Array, n: number): Promise<Float32Array> {
    const w = this.manifest.world;
    if (!this.sessions.world || !w) throw new Error(`model package ${this.manifest.name} has no in-world score`);
    const { tokensPerFrame: V } = this.manifest.vision;
    const out = await this.sessions.world.run({ [w.input]: new ort.Tensor('float32', embeds.subarray(0, n * V * this.manifest.decoder.dModel), [n, V, this.manifest.decoder.dModel]) });
    return out[w.output]!.data as Float32Array;
  }

  async close(): Promise<void> {
    await releaseSessions(this.sessions);
  }
}
