import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { checkView } from '../decode/filter.ts';
import { QuestionClassifier } from '../questions/classifier.ts';
import { QuestionKinds, QuestionKindsSchema } from '../questions/kinds.ts';
import { referenceSchema } from '../view/reference.ts';
import { Recall, RecallSchema } from './recall.ts';

/**
 * How a general package's stream is written (models/CONTRACT.md "General packages"): text with the
 * tokenizer's special-token text in it, tokenized by the runtime once at load. A closed package
 * has none and uses its own special tokens (tokens.question ... tokens.commentary).
 */
export const PromptSchema = z.object({
  /** Where the templates come from (e.g. "videollm-online"); for people, not read. */
  family: z.string().optional(),
  /** Put in place of {system} in `start`. */
  system: z.string().default(''),
  /** Fed once when a stream (or a rebuilt cache) begins; these tokens are the attention sinks. */
  start: z.string().min(1),
  /** Fed in the same step right before a frame that follows a frame ("," in VideoLLM-online). */
  frameSeparator: z.string().default(''),
  /** Fed after a frame when the model decides to speak; it then writes the line up to eos. */
  commentary: z.string().min(1),
  /** A viewer's question; {question} is replaced by the question as asked. */
  question: z.string().includes('{question}', { message: 'prompt.question must contain {question}' }),
  /** Fed after the eos of every line, answer and summary, in the same step (reopens the stream). */
  afterLine: z.string().default(''),
  /** The question asked for a summary of what the cache still holds. */
  summary: z.string().min(1),
}).passthrough();

/** manifest.json of a model package (models/CONTRACT.md, models/README.md). */
export const ManifestSchema = z.object({
  format: z.literal('kibitz-mod/1'),
  name: z.string(),
  /**
   * "closed": a small model of one world with its own special tokens (the bundled packages);
   * "general": an imported open-vocabulary checkpoint whose stream format is the `prompt` block.
   */
  kind: z.enum(['closed', 'general']).default('closed'),
  frame: z.object({
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    fps: z.number().positive(),
    /** The part of the screen the model looks at (src/decode/filter.ts); absent: the whole frame, letterboxed. */
    view: z.array(z.number()).superRefine((v, ctx) => {
      try {
        checkView(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }).optional(),
    /** ffmpeg's scaler for the letterbox; the model's training preprocessing (absent: bilinear). */
    scaler: z.enum(['bilinear', 'bicubic']).optional(),
    /**
     * The package's mean in-world picture (grey PGM) and its pixel aspect: what the view search
     * looks for on a streamer's canvas (src/view/). Absent: the view stays where `view` says.
     */
    reference: referenceSchema.optional(),
  }).passthrough(),
  vision: z.object({
    tokensPerFrame: z.number().int().positive(),
    /** Grid tokens [rows, cols] after the summary token(s); needed by `temporal`. */
    grid: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  }).passthrough(),
  decoder: z.object({
    dModel: z.number().int().positive(),
    layers: z.number().int().positive(),
    heads: z.number().int().positive(),
    kvHeads: z.number().int().positive(),
    headDim: z.number().int().positive(),
    vocab: z.number().int().positive(),
    routedLayers: z.array(z.number().int().nonnegative()),
    keepRatio: z.number().positive().max(1),
    keptPerFrame: z.number().int().positive(),
    maxPositions: z.number().int().positive().optional(),
    ropeTheta: z.number().positive({ error: 'decoder.ropeTheta must be a positive number (the cache turns keys with it); re-export the package' }),
    /**
     * How the decoder graphs take past keys (models/CONTRACT.md "Positions"): "rotated" at their
     * positions (each step rotates only its new tokens; the cache turns the few keys whose
     * position changes). Packages exported before, with pre-RoPE keys, are rewritten by the
     * toolkit's `regraph` (the runtime no longer carries the pre-RoPE path).
     */
    pastKeys: z.literal('rotated', { error: 'decoder.pastKeys must be "rotated" (the form every package is exported in now); rewrite an older package with PYTHONPATH=models python3 -m kibitz_models.cli regraph --package DIR' }),
    /**
     * Text tokens decoder_frame takes before a frame's vision tokens in the same step (the
     * prompt's frameSeparator); they are never routed. 0 or absent: vision tokens only.
     */
    framePrefixTokens: z.number().int().nonnegative().optional(),
    /**
     * decoder_frame.onnx also runs text steps (its input `vision_tokens` = 0, when a routed layer
     * needs to know; logits after the last token): the runtime opens one decoder session, so the
     * decoder's weights are in memory once instead of twice (each session holds its own copy: 2.8 GB
     * per session at Llama-3-8B width with one layer). decoder_text.onnx stays for older runtimes.
     */
    frameGraphRunsText: z.boolean().optional(),
  }).passthrough(),
  tokens: z.object({
    /** The token whose probability after a frame is P(silent) (VideoLLM-online: the interval ","). */
    silent: z.number().int().nonnegative(),
    eos: z.number().int().nonnegative(),
    bos: z.number().int().nonnegative().optional(),
    /** A closed package's own markers (absent in a general package, which has `prompt`). */
    question: z.number().int().nonnegative().optional(),
    answer: z.number().int().nonnegative().optional(),
    summary: z.number().int().nonnegative().optional(),
    commentary: z.number().int().nonnegative().optional(),
  }).passthrough(),
  prompt: PromptSchema.optional(),
  decision: z.object({ threshold: z.number().min(0).max(1) }).passthrough().optional(),
  /** The in-world score (models/README.md "Knowing its world"): absent = the package cannot tell. */
  world: z.object({
    input: z.literal('vision_embeds'),
    output: z.string().min(1),
    /** Frames scoring under this are outside the package's world. */
    threshold: z.number().min(0).max(1),
  }).passthrough().optional(),
  /** What a usable line looks like; every generated line is checked against it (src/model/line_guard.ts). */
  guards: z.object({
    /** Longest line, in tokens, per kind. */
    maxTokens: z.object({ commentary: z.number().int().positive(), answer: z.number().int().positive(), summary: z.number().int().positive() }).partial().optional(),
    /** Mean log-probability of a line's tokens under which it is not said. */
    minMeanLogprob: z.number().max(0).optional(),
  }).passthrough().optional(),
  /** The temporal token drop (src/model/temporal_drop.ts): absent = every frame feeds all its tokens. */
  temporal: z.object({
    cellMargin: z.number().int().nonnegative(),
    threshold: z.number().nonnegative(),
    refreshFrames: z.number().int().positive(),
    /** Whether the runtime runs the drop when the config says `auto` (absent = on). A package trained both ways (`cli train --temporal-share`) may ship it off. */
    default: z.enum(['on', 'off']).optional(),
  }).passthrough().optional(),
  /** Memory questions answered from what the stream's commentary said (src/model/recall.ts); absent = the model answers every question. */
  recall: RecallSchema.optional(),
  /** The question kinds a closed package answers and its classifier (src/questions/kinds.ts); absent = questions go to the model as asked. */
  questions: QuestionKindsSchema.optional(),
  cache: z.object({
    sinkTokens: z.number().int().nonnegative().optional(),
    windowFrames: z.number().int().positive().optional(),
    /** The most text tokens the model saw between its window's frames in training: the runtime's text slots. */
    textTokens: z.number().int().positive().optional(),
  }).passthrough().optional(),
}).passthrough().superRefine((m, ctx) => {
  if (m.kind === 'general' && !m.prompt) ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'a general package needs a prompt block (re-import it: models/README.md "Run a real model")' });
  if (m.kind === 'closed') {
    if (m.prompt) ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'a closed package speaks in its own tokens; a prompt block belongs to kind "general"' });
    for (const k of ['question', 'answer', 'summary', 'commentary'] as const) {
      if (m.tokens[k] === undefined) ctx.addIssue({ code: 'custom', path: ['tokens', k], message: `a closed package needs tokens.${k}; re-export it with the toolkit` });
    }
  }
});

export type Manifest = z.infer<typeof ManifestSchema>;

/**
 * The most tokens one decoder_frame step takes: a frame's vision tokens and the separator fed
 * before them (decoder.framePrefixTokens). The cache sizes its slots and the runtime checks its
 * steps by this one rule.
 */
export function frameStepTokens(m: Manifest): number {
  return m.vision.tokensPerFrame + (m.decoder.framePrefixTokens ?? 0);
}

export const PACKAGE_FILES = ['manifest.json', 'vision.onnx', 'decoder_frame.onnx', 'decoder_text.onnx', 'embed_tokens.bin', 'tokenizer.json'] as const;

export class ModelPackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelPackageError';
  }
}

export interface ModelPackage {
  dir: string;
  manifest: Manifest;
  /** Token embedding table, [vocab, dModel] row-major. */
  embedTokens: Float32Array;
  /** The manifest's memory-question rules, compiled (src/model/recall.ts); null when it has none. */
  recall: Recall | null;
  /** The question kinds and their classifier (src/questions/kinds.ts); null when the manifest has no `questions` block. */
  questions: QuestionKinds | null;
  tokenizerJson: unknown;
  file(name: (typeof PACKAGE_FILES)[number] | 'world.onnx'): string;
}

/** Reads and checks a package folder; every failure names the file and what to do. */
export function loadModelPackage(dirArg: string): ModelPackage {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelPackageError(`model package ${dir} does not exist: set model.package to a folder under models/ (e.g. models/kibitz-demo)`);
  }
  for (const f of PACKAGE_FILES) {
    if (!existsSync(join(dir, f))) throw new ModelPackageError(`model package ${dir} is missing ${f}: re-export it with the toolkit (models/README.md)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  } catch (err) {
    throw new ModelPackageError(`${join(dir, 'manifest.json')} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ModelPackageError(`${join(dir, 'manifest.json')}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const manifest = parsed.data;
  for (const gone of ['clock', 'stamp'] as const) {
    // Experiments no shipped package uses (models/EXPERIMENTS.md); loading one without them would change what the model sees.
    if ((manifest as Record<string, unknown>)[gone] !== undefined) {
      throw new ModelPackageError(`${join(dir, 'manifest.json')}: ${gone}: ${gone === 'clock' ? 'the stream clock was' : 'line stamps were'} an experiment that this runtime no longer reads; use a package trained without it`);
    }
  }
  const d = manifest.decoder;
  if (d.heads % d.kvHeads !== 0) throw new ModelPackageError(`${join(dir, 'manifest.json')}: decoder.heads (${d.heads}) must be a multiple of decoder.kvHeads (${d.kvHeads})`);
  if (d.routedLayers.some((l) => l >= d.layers)) throw new ModelPackageError(`${join(dir, 'manifest.json')}: decoder.routedLayers names a layer >= decoder.layers (${d.layers})`);
  if (d.routedLayers.includes(0)) throw new ModelPackageError(`${join(dir, 'manifest.json')}: layer 0 must not be routed (the runtime reads token order from it)`);

  const grid = manifest.vision.grid;
  if (manifest.temporal && (!grid || 1 + grid[0] * grid[1] !== manifest.vision.tokensPerFrame)) {
    throw new ModelPackageError(`${join(dir, 'manifest.json')}: a temporal block needs vision.grid [rows, cols] with 1 + rows*cols = vision.tokensPerFrame (${manifest.vision.tokensPerFrame}); re-export the package with the toolkit`);
  }
  if (manifest.world && !existsSync(join(dir, 'world.onnx'))) {
    throw new ModelPackageError(`model package ${dir} has a world block in manifest.json but no world.onnx: re-export it with the toolkit (cli world)`);
  }
  let recall: Recall | null = null;
  if (manifest.recall) {
    try {
      recall = new Recall(manifest.recall.rules);
    } catch (err) {
      throw new ModelPackageError(`${join(dir, 'manifest.json')}: recall: ${(err as Error).message}; fix the rule (models/README.md "Memory questions")`);
    }
  }
  const questions = manifest.questions ? loadQuestionKinds(dir, manifest.questions) : null;
  // Without a questions block no question has a kind, so no rule is ever used (questions go to the model as asked).
  const orphan = questions && recall?.kinds.find((k) => !questions.kinds.some((q) => q.kind === k));
  if (orphan) {
    throw new ModelPackageError(`${join(dir, 'manifest.json')}: recall rule "${orphan}" names no question kind of the package's questions block: `
      + 'rules key on question kinds; add the kind (and retrain the classifier: PYTHONPATH=models python3 -m kibitz_models.cli questions --package DIR) or drop the rule');
  }
  const embedTokens = readFloats(join(dir, 'embed_tokens.bin'), d.vocab * d.dModel, 'vocab*dModel');

  let tokenizerJson: unknown;
  try {
    tokenizerJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  } catch (err) {
    throw new ModelPackageError(`${join(dir, 'tokenizer.json')} is not valid JSON: ${(err as Error).message}`);
  }
  return { dir, manifest, embedTokens, recall, questions, tokenizerJson, file: (name) => join(dir, name) };
}

/** The package's question classifier, checked against the kinds its manifest lists. */
function loadQuestionKinds(dir: string, block: NonNullable<Manifest['questions']>): QuestionKinds {
  const path = join(dir, block.file);
  const retrain = `retrain it: PYTHONPATH=models python3 -m kibitz_models.cli questions --package ${dir}`;
  if (!existsSync(path)) throw new ModelPackageError(`model package ${dir} names ${block.file} in its questions block but has no such file: ${retrain}`);
  try {
    return new QuestionKinds(block, QuestionClassifier.fromFile(path));
  } catch (err) {
    throw new ModelPackageError(`${path}: ${(err as Error).message}; ${retrain}`);
  }
}

/** A little-endian float32 table of exactly `count` values (named `what` in the error). */
function readFloats(path: string, count: number, what: string): Float32Array {
  if (!existsSync(path)) throw new ModelPackageError(`model package file ${path} is missing: re-export the package with the toolkit (models/README.md)`);
  const buf = readFileSync(path);
  if (buf.byteLength !== count * 4) {
    throw new ModelPackageError(`${path} has ${buf.byteLength} bytes, expected ${what}*4 = ${count * 4}: the file does not belong to this manifest`);
  }
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}
