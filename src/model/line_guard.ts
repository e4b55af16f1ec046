import type { Manifest } from './manifest.ts';

/**
 * The one place that decides whether a generated line may be said, for every package: the
 * engine asks it about every commentary line, answer and model-written summary part before
 * anything is published. A model outside its world (or a weak one) loops, repeats and rambles;
 * none of that reaches a chat.
 */
export type LineKind = 'commentary' | 'answer' | 'summary';

export type DropReason =
  /** The same word (or token) three times in a row: "blue blue blue". */
  | 'repetition'
  /** Longer than the package allows for this kind, or cut off by the generation cap at that length. */
  | 'too_long'
  /** Mean token log-probability under the package's floor: the model is guessing. */
  | 'low_confidence'
  /** Identical to a line said in the last `repeatWindowMs` with no new event in between. */
  | 'duplicate'
  /** The frame is outside the package's world (commentary only). */
  | 'out_of_world';

export const DROP_REASONS: readonly DropReason[] = ['repetition', 'too_long', 'low_confidence', 'duplicate', 'out_of_world'];

export interface LineGuardRules {
  /** A word or token this many times in a row is degenerate. */
  maxRun: number;
  /** Longest line in tokens, per kind. */
  maxTokens: Record<LineKind, number>;
  /** Mean log-probability floor; -Infinity disables the check. */
  minMeanLogprob: number;
  /** An identical commentary line inside this window needs a new event to be said again. */
  repeatWindowMs: number;
}

export const DEFAULT_LINE_GUARD_RULES: LineGuardRules = {
  maxRun: 3,
  maxTokens: { commentary: 32, answer: 24, summary: 48 },
  minMeanLogprob: -Infinity,
  repeatWindowMs: 10_000,
};

/** The rules for a package: the manifest's `guards` over the defaults, then config overrides. */
export function guardRulesFor(manifest: Manifest, overrides: Partial<Pick<LineGuardRules, 'repeatWindowMs' | 'minMeanLogprob'>> = {}): LineGuardRules {
  const g = manifest.guards ?? {};
  return {
    ...DEFAULT_LINE_GUARD_RULES,
    maxTokens: { ...DEFAULT_LINE_GUARD_RULES.maxTokens, ...g.maxTokens },
    minMeanLogprob: g.minMeanLogprob ?? DEFAULT_LINE_GUARD_RULES.minMeanLogprob,
    ...overrides,
  };
}

/** What generation produced: the ids, their mean log-probability, and whether it stopped on eos. */
export interface GeneratedLine {
  ids: number[];
  text: string;
  meanLogprob: number;
  /** False when generation hit its token cap instead of choosing eos. */
  finished: boolean;
}

/** Longest run of equal neighbours in `items` (case-insensitive for strings). */
export function longestRun<T>(items: readonly T[]): number {
  let best = 0;
  let run = 0;
  for (let i = 0; i < items.length; i++) {
    const same = i > 0 && norm(items[i]) === norm(items[i - 1]);
    run = same ? run + 1 : 1;
    best = Math.max(best, run);
  }
  return best;
}

const norm = (x: unknown) => (typeof x === 'string' ? x.toLowerCase() : x);

/**
 * The stateless rules (repetition, length, confidence). Token runs count only word pieces that
 * are not digits, so a score such as 1110 (digit pieces 1 ##1 ##1 ##0) is not "repetition".
 */
export function checkLine(kind: LineKind, line: GeneratedLine, rules: LineGuardRules, isDigitToken: (id: number) => boolean = () => false): DropReason | null {
  // Cut off by the generation cap at or past the limit: the model was not going to stop. (A cap
  // set below the limit by the operator cuts lines short; that alone is not degenerate.)
  if (line.ids.length > rules.maxTokens[kind] || (!line.finished && line.ids.length >= rules.maxTokens[kind])) return 'too_long';
  const words = line.text.split(/\s+/).filter((w) => w.length > 0);
  if (longestRun(words) >= rules.maxRun) return 'repetition';
  const pieces = line.ids.map((id, i) => (isDigitToken(id) ? `digit@${i}` : id)); // digits never form a run
  if (longestRun(pieces) >= rules.maxRun) return 'repetition';
  if (line.ids.length > 0 && line.meanLogprob < rules.minMeanLogprob) return 'low_confidence';
  return null;
}

/**
 * One stream's memory of what it said, for the duplicate rule. "A new event justifies it" means
 * the model went silent on at least one frame since it last said this line: a fresh decision,
 * not the same one held over consecutive frames (the looping of a model that is unsure).
 */
export class StreamLineGuard {
  private readonly recent = new Map<string, { atMs: number; silentSince: boolean }>();

  constructor(private readonly rules: LineGuardRules, private readonly isDigitToken: (id: number) => boolean = () => false) {}

  /** Called for every frame the model decided to stay silent on. */
  silentFrame(): void {
    for (const r of this.recent.values()) r.silentSince = true;
  }

  /** Checks a line; a line that passes is remembered (for commentary) and null is returned. */
  check(kind: LineKind, line: GeneratedLine, streamTimeMs: number): DropReason | null {
    const bad = checkLine(kind, line, this.rules, this.isDigitToken);
    if (bad || kind !== 'commentary') return bad;
    const key = line.text.toLowerCase();
    const prev = this.recent.get(key);
    if (prev && streamTimeMs - prev.atMs < this.rules.repeatWindowMs && !prev.silentSince) return 'duplicate';
    this.recent.set(key, { atMs: streamTimeMs, silentSince: false });
    for (const [k, r] of this.recent) if (streamTimeMs - r.atMs >= this.rules.repeatWindowMs) this.recent.delete(k);
    return null;
  }
}
