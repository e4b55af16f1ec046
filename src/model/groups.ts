/** Indices of `items` split into groups of equal key, in first-seen order (rows that can share one batched run). */
export function groupIndices<I>(items: readonly I[], key: (item: I) => number): number[][] {
  const groups = new Map<number, number[]>();
  items.forEach((item, i) => {
    const k = key(item);
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  });
  return [...groups.values()];
}
