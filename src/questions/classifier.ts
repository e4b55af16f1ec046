import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { featurise, type FeatureSpec } from './features.ts';

/**
 * A closed package's question classifier (questions.json, trained by the toolkit's
 * `cli questions`; models/kibitz_models/questions/classifier.py is its numpy twin): hashed n-gram
 * features, one hidden ReLU layer, softmax over the package's question kinds and "none". The most
 * likely kind is taken when its probability reaches the file's threshold (chosen by the toolkit on
 * phrasings it did not train on); otherwise the question is of no kind. Plain arrays, no runtime
 * dependency: the input is sparse (a question has ~100 features), so a question costs microseconds.
 */
export const NONE = 'none';

export const ClassifierFileSchema = z.object({
  format: z.literal('kibitz-questions/1'),
  features: z.object({ buckets: z.number().int().positive(), chars: z.array(z.number().int().positive()) }),
  /** The kinds, then "none" (any order; "none" must be there). */
  classes: z.array(z.string().min(1)).min(2).refine((c) => c.includes(NONE), { message: `classes must include "${NONE}"` }),
  hidden: z.number().int().positive(),
  threshold: z.number().min(0).max(1),
  /** float32 little-endian, base64, row-major: w1 [buckets, hidden], b1 [hidden], w2 [hidden, classes], b2 [classes]. */
  weights: z.object({ w1: z.string(), b1: z.string(), w2: z.string(), b2: z.string() }),
}).passthrough();
export type ClassifierFile = z.infer<typeof ClassifierFileSchema>;

export interface Classified {
  /** The kind, or null: the question is of none of the package's kinds. */
  kind: string | null;
  /** The most likely kind's probability (0 for a question with no letter or digit). */
  p: number;
}

function floats(b64: string, count: number, what: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  if (buf.byteLength !== count * 4) throw new Error(`weights.${what} has ${buf.byteLength / 4} values, expected ${count}`);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

export class QuestionClassifier {
  readonly classes: readonly string[];
  readonly threshold: number;
  private readonly spec: FeatureSpec;
  private readonly hidden: number;
  private readonly w1: Float32Array;
  private readonly b1: Float32Array;
  private readonly w2: Float32Array;
  private readonly b2: Float32Array;

  /** Throws (saying what is wrong) on a file that is not a classifier of this format. */
  constructor(raw: unknown) {
    const parsed = ClassifierFileSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    const f = parsed.data;
    this.spec = f.features;
    this.classes = f.classes;
    this.threshold = f.threshold;
    this.hidden = f.hidden;
    const [D, H, C] = [f.features.buckets, f.hidden, f.classes.length];
    this.w1 = floats(f.weights.w1, D * H, 'w1');
    this.b1 = floats(f.weights.b1, H, 'b1');
    this.w2 = floats(f.weights.w2, H * C, 'w2');
    this.b2 = floats(f.weights.b2, C, 'b2');
  }

  static fromFile(path: string): QuestionClassifier {
    return new QuestionClassifier(JSON.parse(readFileSync(path, 'utf8')));
  }

  /** Softmax over `classes`; null when the question has no features (no letter or digit: an emoji, "???"). */
  probs(text: string): Float64Array | null {
    const { indices, values } = featurise(text, this.spec);
    if (indices.length === 0) return null;
    const H = this.hidden;
    const C = this.classes.length;
    const h = Float64Array.from(this.b1); // (H,) = b1 + x W1 over the nonzero x only
    indices.forEach((row, k) => {
      const v = values[k]!;
      for (let j = 0; j < H; j++) h[j]! += v * this.w1[row * H + j]!;
    });
    const z = Float64Array.from(this.b2); // (C,) = b2 + relu(h) W2
    for (let j = 0; j < H; j++) {
      const a = Math.max(0, h[j]!);
      if (a > 0) for (let c = 0; c < C; c++) z[c]! += a * this.w2[j * C + c]!;
    }
    const max = Math.max(...z);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += (z[c] = Math.exp(z[c]! - max));
    for (let c = 0; c < C; c++) z[c]! /= sum;
    return z;
  }

  /** The most likely kind when its probability reaches the threshold, else none (kind null). */
  classify(text: string): Classified {
    const p = this.probs(text);
    if (!p) return { kind: null, p: 0 };
    let best = -1;
    this.classes.forEach((c, i) => {
      if (c !== NONE && (best < 0 || p[i]! > p[best]!)) best = i;
    });
    return { kind: p[best]! >= this.threshold ? this.classes[best]! : null, p: p[best]! };
  }
}
