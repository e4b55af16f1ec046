/**
 * Viewers' own words for bench/broadcast.ts: the held-out phrasing sets
 * (models/tests/question_sets/*.json, written before the classifiers were trained and never used
 * to choose anything), turned into a broadcast's questions (each ground-truth question reworded,
 * out-of-scope questions in between), and the package's classifier alone on every phrasing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/config/load.ts';
import { loadModelPackage } from '../src/model/manifest.ts';
import type { QuestionKinds } from '../src/questions/kinds.ts';

export const SETS_DIR = path.join(PROJECT_ROOT, 'models', 'tests', 'question_sets');

interface SetFile {
  common_out_of_scope: string[];
  packages: Record<string, { reworded: Record<string, string[]>; out_of_scope: string[] }>;
}

/** One held-out set for one package: reworded phrasings per kind, and out-of-scope questions. */
export interface PhrasingSet {
  name: string;
  reworded: Record<string, string[]>;
  outOfScope: string[];
}

/** The sets that name this package (by folder name), in file order. */
export function phrasingSets(pkg: string): PhrasingSet[] {
  if (!existsSync(SETS_DIR)) return [];
  const name = path.basename(pkg);
  return readdirSync(SETS_DIR).filter((f) => f.endsWith('.json')).sort().flatMap((f) => {
    const s = JSON.parse(readFileSync(path.join(SETS_DIR, f), 'utf8')) as SetFile;
    const p = s.packages[name];
    return p ? [{ name: f.replace(/\.json$/, ''), reworded: p.reworded, outOfScope: [...s.common_out_of_scope, ...p.out_of_scope] }] : [];
  });
}

/** Hands out a set's phrasings in order, each kind cycling through its own, across broadcasts. */
export class Rewording {
  private readonly next = new Map<string, number>();
  private oos = 0;
  constructor(readonly set: PhrasingSet) {}

  kind(kind: string): string | undefined {
    const all = this.set.reworded[kind];
    if (!all?.length) return undefined;
    const i = this.next.get(kind) ?? 0;
    this.next.set(kind, i + 1);
    return all[i % all.length];
  }

  /** The next `n` out-of-scope questions (each asked once before any repeats). */
  outOfScope(n: number): string[] {
    const all = this.set.outOfScope;
    return Array.from({ length: n }, () => all[this.oos++ % all.length]!);
  }
}

/** The package's question kinds, or null for a package without them (questions go to the model as asked). */
export function kindsOf(pkg: string): QuestionKinds | null {
  return loadModelPackage(pkg).questions;
}

/** The classifier alone on every phrasing of a set: per kind right / refused / asked, and out-of-scope refused. */
export function classifierOnSet(kinds: QuestionKinds, set: PhrasingSet) {
  const byKind: Record<string, { right: number; refused: number; n: number }> = {};
  for (const [kind, qs] of Object.entries(set.reworded)) {
    const r = (byKind[kind] = { right: 0, refused: 0, n: qs.length });
    for (const q of qs) {
      const got = kinds.understand(q).kind?.kind ?? null;
      if (got === kind) r.right++;
      if (got === null) r.refused++;
    }
  }
  const refused = set.outOfScope.filter((q) => kinds.understand(q).kind === null).length;
  return { byKind, outOfScope: { refused, n: set.outOfScope.length } };
}
