import type { Manifest } from './manifest.ts';
import type { TextCodec } from './tokenizer.ts';

/** What a line is: said unprompted about a frame, an answer to a viewer, or a summary. */
export type SpokenKind = 'commentary' | 'answer' | 'summary';

/**
 * How a package's stream is written in tokens: what opens a cache, what goes before a frame,
 * what asks for a line, a question or a summary, and what follows a line's eos. The engine and
 * the stream contexts ask this one object; nothing else knows a package's markers. Built once per
 * model from its manifest (`promptFormatFor`): a closed package's own special tokens, or a general
 * package's `prompt` templates tokenized by its real tokenizer.
 */
export interface PromptFormat {
  /** Fed once when a cache begins (these tokens are the attention sinks). */
  readonly start: readonly number[];
  /** Fed in the same step right before a frame that follows a frame (empty: none). */
  readonly frameSeparator: readonly number[];
  /** Fed after a frame when the model decides to speak; it then writes the line to eos. */
  readonly commentary: readonly number[];
  /** The step that asks for a summary of what the cache holds. */
  readonly summary: readonly number[];
  /** A viewer's question (untrusted text, already cleaned by the question policy), at most `maxTokens` tokens. */
  question(text: string, maxTokens: number): number[];
  /** Fed right after the eos of a line of `kind`, in the same step (a general package's end of turn; nothing for a closed one). */
  afterLine(kind: SpokenKind): number[];
}

/** The one place that reads a manifest's stream format. */
export function promptFormatFor(manifest: Manifest, codec: TextCodec): PromptFormat {
  return manifest.prompt ? templateFormat(manifest, codec) : closedFormat(manifest, codec);
}

/**
 * A closed package (models/CONTRACT.md "Sequence format"): `bos`, then frames; `commentary` asks
 * for a line, `question w1 .. wn answer` for an answer, `summary answer` for a summary; nothing
 * follows a line's eos.
 */
function closedFormat(m: Manifest, codec: TextCodec): PromptFormat {
  const t = m.tokens;
  const need = (k: 'question' | 'answer' | 'summary' | 'commentary'): number => {
    const id = t[k];
    if (id === undefined) throw new Error(`manifest tokens.${k} is missing`); // the manifest schema refuses this first
    return id;
  };
  const [question, answer, summary, commentary] = [need('question'), need('answer'), need('summary'), need('commentary')];
  return {
    start: t.bos === undefined ? [] : [t.bos],
    frameSeparator: [],
    commentary: [commentary],
    summary: [summary, answer],
    question: (text, maxTokens) => [question, ...codec.encodeUntrusted(text).slice(0, Math.max(0, maxTokens - 2)), answer],
    afterLine: () => [],
  };
}

/**
 * A general package: the `prompt` block's templates, with the tokenizer's special-token text in
 * them, tokenized once here. A question is put into its template as asked (special-token text a
 * viewer types is removed first) and tokenized with it, as the reference model's chat template
 * tokenizes the whole turn.
 */
function templateFormat(m: Manifest, codec: TextCodec): PromptFormat {
  const p = m.prompt!;
  const [before, after] = splitOnce(p.question, '{question}');
  const beforeIds = codec.encodeTemplate(before);
  const afterIds = codec.encodeTemplate(after);
  const question = (text: string, maxTokens: number): number[] => {
    const clean = codec.cleanUntrusted(text);
    const whole = codec.encodeTemplate(before + clean + after);
    if (whole.length <= maxTokens) return whole;
    // Too long for one step: keep the template whole and cut the question itself.
    const room = Math.max(0, maxTokens - beforeIds.length - afterIds.length);
    return [...beforeIds, ...codec.encodeUntrusted(clean).slice(0, room), ...afterIds];
  };
  const afterLine = codec.encodeTemplate(p.afterLine);
  return {
    start: codec.encodeTemplate(p.start.split('{system}').join(p.system)),
    frameSeparator: codec.encodeTemplate(p.frameSeparator),
    commentary: codec.encodeTemplate(p.commentary),
    summary: question(p.summary, Number.MAX_SAFE_INTEGER),
    question,
    afterLine: () => [...afterLine],
  };
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}
