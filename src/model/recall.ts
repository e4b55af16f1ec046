import { z } from 'zod';
import type { SaidLog } from './summary.ts';

/**
 * Memory questions ("when was the player last hit?", "what colour was the last gem?") answered
 * from what this stream's commentary said and when, instead of from the KV cache.
 *
 * Why: the model says "the player is hit" on the right frame (commentary F1 0.86-0.90 held out)
 * but cannot tell the time of it back from its cache (held-out "when" answers 0/7; four training
 * recipes tried, models/README.md). The engine already keeps every said line with its stream time
 * (SaidLog, which summaries read past the cache); a package names, per memory question, which line
 * answers it and how. The model still decides everything the answer is built from: a hit it did
 * not say is a hit this cannot recall. Questions no rule names go to the model as before.
 */

/** A commentary line is one or more phrases joined by " and " (one per event); the scorer splits the same way. */
export function linePhrases(text: string): string[] {
  return text.split(' and ').map((p) => p.trim()).filter((p) => p.length > 0);
}

const RuleSchema = z.object({
  /** The question kind this rule answers (one of the manifest's `questions` kinds). */
  kind: z.string().min(1),
  /** The phrase that answers it: words, with {name} standing for one or more words; {line} alone is any phrase. */
  line: z.string().min(1),
  /** The answer: {seconds} = whole stream second the phrase was said, {line} = the phrase, {name} = what {name} matched. */
  answer: z.string().min(1),
  /** Only phrases said at most this long before the question count; absent = the whole stream so far. */
  withinS: z.number().positive().optional(),
  /** Said when no phrase matches; absent = the model answers instead. */
  none: z.string().min(1).optional(),
});

export const RecallSchema = z.object({ rules: z.array(RuleSchema) }).passthrough();
export type RecallRule = z.infer<typeof RuleSchema>;

interface CompiledRule {
  rule: RecallRule;
  pattern: RegExp;
}

const PLACEHOLDER = /\{([a-z_][a-z0-9_]*)\}/gi;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A rule's line as a regular expression over one phrase; throws (naming the rule) when its answer uses a name the line does not define. */
function compile(rule: RecallRule): CompiledRule {
  const names = new Set<string>(['seconds', 'line']);
  let source = '';
  let last = 0;
  for (const m of rule.line.matchAll(PLACEHOLDER)) {
    source += escape(rule.line.slice(last, m.index));
    const name = m[1]!;
    source += name === 'line' ? '(.+)' : `(?<${name}>.+?)`;
    names.add(name);
    last = m.index! + m[0].length;
  }
  source += escape(rule.line.slice(last));
  for (const m of rule.answer.matchAll(PLACEHOLDER)) {
    if (!names.has(m[1]!)) throw new Error(`recall rule "${rule.kind}": answer uses {${m[1]}}, which its line "${rule.line}" does not define`);
  }
  return { rule, pattern: new RegExp(`^${source}$`) };
}

/** A package's recall rules, compiled once; `forKind` and `answer` are pure. */
export class Recall {
  private readonly byKind = new Map<string, RecallRule>();
  private readonly compiled = new Map<RecallRule, CompiledRule>();

  constructor(rules: RecallRule[]) {
    for (const r of rules) {
      if (this.byKind.has(r.kind)) throw new Error(`two recall rules for kind "${r.kind}": a kind has at most one`);
      this.compiled.set(r, compile(r));
      this.byKind.set(r.kind, r);
    }
  }

  /** The kinds that have a rule. */
  get kinds(): string[] {
    return [...this.byKind.keys()];
  }

  /** The rule of a question kind, or null (no kind, or no rule for it): the model answers. */
  forKind(kind: string | null): RecallRule | null {
    return kind === null ? null : this.byKind.get(kind) ?? null;
  }

  /**
   * The answer from what was said up to `nowMs` (stream time), newest phrase first; the rule's
   * `none` when nothing matches; null when nothing matches and the rule has no `none`.
   */
  answer(rule: RecallRule, said: SaidLog, nowMs: number): string | null {
    const c = this.compiled.get(rule);
    if (!c) throw new Error(`recall rule "${rule.kind}" is not one of this package's rules`);
    const fromMs = rule.withinS === undefined ? -Infinity : nowMs - rule.withinS * 1000;
    for (const line of said.newestFirst()) {
      if (line.streamTimeMs > nowMs) continue;
      if (line.streamTimeMs < fromMs) break;
      const phrases = linePhrases(line.text);
      for (let i = phrases.length - 1; i >= 0; i--) {
        const m = c.pattern.exec(phrases[i]!);
        if (!m) continue;
        const values: Record<string, string> = { ...m.groups, seconds: String(Math.floor(line.streamTimeMs / 1000)), line: phrases[i]! };
        return rule.answer.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '');
      }
    }
    return rule.none ?? null;
  }
}
