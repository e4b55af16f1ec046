/**
 * Adds up counter records of one shape (a plugin's per-channel or per-URL counters, for /metrics)
 * into `zero`, a fresh all-zero record, and returns it.
 */
export function sumCounters<K extends string>(items: Iterable<Readonly<Record<K, number>>>, zero: Record<K, number>): Record<K, number> {
  for (const item of items) for (const k of Object.keys(zero) as K[]) zero[k] += item[k];
  return zero;
}
