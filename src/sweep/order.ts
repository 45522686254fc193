// The order in which a worker claims its pending cells: longest estimated first (longest-processing-time-first
// scheduling). Workers claim dynamically, so with this order the last cells to start are the short ones and the
// sweep's tail (one worker still busy, the others idle) is short; in the declared order a sweep whose widest cells
// come last (the width axis ascends) ends with workers waiting on one large cell.
/**
 * `items` sorted by `estimate` descending; stable, and items without a finite estimate keep their relative order
 * after the estimated ones.
 */
export function longestFirst<T>(items: readonly T[], estimate: (item: T) => number): T[] {
  const keyed = items.map((item) => {
    const e = estimate(item);
    return { item, key: Number.isFinite(e) ? e : -Infinity };
  });
  keyed.sort((x, y) => (x.key === y.key ? 0 : y.key - x.key));
  return keyed.map((k) => k.item);
}
