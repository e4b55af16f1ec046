/**
 * What the question classifier sees of a viewer's question: hashed word, word-pair and character
 * n-gram counts, scaled to unit length. The runtime's copy of the toolkit's
 * models/kibitz_models/questions/features.py; both are checked against
 * models/tests/question_features_cases.json, so they cannot drift apart.
 *
 * A different normalisation or hash would hand the classifier features it never learned from,
 * and it would still answer, confidently and wrongly: keep every step here as the toolkit has it.
 */

/** How a package's classifier hashes (questions.json `features`). */
export interface FeatureSpec {
  buckets: number;
  /** Character n-gram lengths. */
  chars: number[];
}

/** Only ASCII A-Z is lower-cased (other scripts' case rules differ between languages); apostrophes go; anything else but a-z 0-9 is a space. */
export function normaliseQuestion(text: string): string {
  return text
    .replace(/[A-Z]/g, (c) => c.toLowerCase())
    .replace(/['\u2019\u2018`\u02bc]/g, '')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

/** The features before hashing, in the toolkit's order: words, pairs over ^ words $, character n-grams of <word>. */
export function featureStrings(text: string, chars: readonly number[] = [3, 4]): string[] {
  const s = normaliseQuestion(text);
  if (s.length === 0) return [];
  const words = s.split(' ');
  const out = words.map((w) => `w:${w}`);
  const padded = ['^', ...words, '$'];
  for (let i = 0; i + 1 < padded.length; i++) out.push(`b:${padded[i]} ${padded[i + 1]}`);
  for (const w of words) {
    const g = `<${w}>`;
    for (const n of chars) for (let i = 0; i + n <= g.length; i++) out.push(`c:${g.slice(i, i + n)}`);
  }
  return out;
}

/** FNV-1a, 32 bits, over the string's bytes (features are ASCII, so one char is one byte). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** Bucket indices (ascending) and their values: counts scaled to unit length; both empty when the question has no features. */
export function featurise(text: string, spec: FeatureSpec): { indices: number[]; values: number[] } {
  const counts = new Map<number, number>();
  for (const f of featureStrings(text, spec.chars)) {
    const b = fnv1a(f) % spec.buckets;
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  const indices = [...counts.keys()].sort((a, b) => a - b);
  const norm = Math.sqrt(indices.reduce((s, i) => s + counts.get(i)! ** 2, 0));
  return { indices, values: indices.map((i) => counts.get(i)! / norm) };
}
