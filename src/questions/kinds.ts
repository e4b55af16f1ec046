import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { NONE, QuestionClassifier } from './classifier.ts';

/**
 * What a closed package answers, and the one step that understands a viewer's question: the
 * manifest's `questions` block lists the package's question kinds, and its classifier maps a
 * question to one of them or to none. A kind's canonical question (the wording the decoder and
 * recall were trained on) is what the model is then asked; a question of no kind gets `help`, an
 * honest line saying what can be asked, and never a guess. Without this step the model answered
 * a reworded question as whatever its known words happened to spell ("what color was the most
 * recent gem?" -> "an enemy appears"), and made answers up to questions it cannot answer at all.
 *
 * A general (open-vocabulary) package has no such block: questions go to it as asked.
 */
const KindSchema = z.object({
  /** The kind's id (as the toolkit names it; recall rules name it too). */
  kind: z.string().min(1),
  /** A few words for the honest line ("the score", "when the player was last hit"). */
  label: z.string().min(1),
  /** The canonical question: what the decoder and recall were trained on. */
  question: z.string().min(1),
  /** Phrasings to show people; the first of the first kind is the example in the honest line. */
  examples: z.array(z.string().min(1)).min(1),
}).passthrough();

export const QuestionKindsSchema = z.object({
  /** The classifier, in the package folder (questions.json). */
  file: z.string().min(1),
  kinds: z.array(KindSchema).min(1),
}).passthrough().superRefine((b, ctx) => {
  const seen = new Set<string>();
  for (const k of b.kinds) {
    if (k.kind === NONE) ctx.addIssue({ code: 'custom', path: ['kinds'], message: `"${NONE}" is not a kind: it is what a question of no kind gets` });
    if (seen.has(k.kind)) ctx.addIssue({ code: 'custom', path: ['kinds'], message: `kind "${k.kind}" is listed twice` });
    seen.add(k.kind);
  }
});
export type QuestionKindsBlock = z.infer<typeof QuestionKindsSchema>;
export type QuestionKind = QuestionKindsBlock['kinds'][number];

/** What a viewer's question is about: one of the package's kinds, or none of them. */
export type Understood = { kind: QuestionKind; p: number } | { kind: null; p: number };

/** What a package with no question kinds (a general, open-vocabulary one) tells askers. */
export const OPEN_HELP = 'Ask me about what is happening on stream — try asking "what just happened?"';

/** "a, b and c" */
function listed(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** The honest line: the kinds' labels and the first kind's first example. */
export function helpLine(block: QuestionKindsBlock): string {
  return `I can answer ${listed(block.kinds.map((k) => k.label))} — try asking "${block.kinds[0]!.examples[0]}"`;
}

/**
 * The help line of the package in `pkgDir`, read from its manifest alone (a Redis ingest node
 * names the package its workers run, but loads no model); null when it has no questions block
 * or cannot be read (the workers' own load reports what is wrong).
 */
export function readHelpLine(pkgDir: string | undefined): string | null {
  const file = pkgDir && join(pkgDir, 'manifest.json');
  if (!file || !existsSync(file)) return null;
  try {
    const block = QuestionKindsSchema.safeParse((JSON.parse(readFileSync(file, 'utf8')) as { questions?: unknown }).questions);
    return block.success ? helpLine(block.data) : null;
  } catch {
    return null;
  }
}

export class QuestionKinds {
  private readonly byId: Map<string, QuestionKind>;
  /** The honest line for a question of no kind, and the answer to !help: what can be asked, with one example. */
  readonly help: string;

  /** Throws when the classifier's classes are not exactly the block's kinds and "none". */
  constructor(readonly block: QuestionKindsBlock, private readonly classifier: QuestionClassifier) {
    this.byId = new Map(block.kinds.map((k) => [k.kind, k]));
    const want = [...this.byId.keys(), NONE].sort();
    const have = [...classifier.classes].sort();
    if (want.join('\n') !== have.join('\n')) {
      throw new Error(`the classifier (${block.file}) knows the classes ${have.join(', ')}, the manifest lists the kinds ${want.filter((k) => k !== NONE).join(', ')}: retrain it for these kinds`);
    }
    this.help = helpLine(block);
  }

  get kinds(): readonly QuestionKind[] {
    return this.block.kinds;
  }

  /** The kind a (cleaned) question is of, or none. */
  understand(question: string): Understood {
    const { kind, p } = this.classifier.classify(question);
    const k = kind === null ? undefined : this.byId.get(kind);
    return k ? { kind: k, p } : { kind: null, p };
  }
}
