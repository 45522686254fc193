// Learning rates scaled with width, read back from the runs: a width study sets η = η0·(n/n0)^(−e) for a few
// exponents e (experiments/width-scaling.ts writes such axes). Nothing records e, so it is recovered here from each
// run's (n, lr): within one group of runs (same optimizer and other settings), n0 is the smallest width, η0 the one
// learning rate used there, and e = −ln(lr/η0)/ln(n/n0), rounded to 0.01 (the experiments round η to 3 significant
// digits, which moves e by < 0.001). At n0 every exponent gives η0, so those runs belong to every e of the group.
// A group with several learning rates at its smallest width (an lr grid) or with one width only is not a scaling.

export interface LrScalingItem {
  /** Runs with the same group can share a scaling (optimizer and every varying setting except lr and the model). */
  group: string;
  width: number | null;
  lr: number;
}

/** Per item, the exponents e it belongs to (sorted), or null when its group is not a width scaling of η. */
export function lrExponents(items: readonly LrScalingItem[]): (number[] | null)[] {
  const out: (number[] | null)[] = items.map(() => null);
  const groups = new Map<string, number[]>();
  items.forEach((it, i) => {
    if (it.width === null || !(it.width > 0) || !(it.lr > 0)) return;
    if (!groups.has(it.group)) groups.set(it.group, []);
    groups.get(it.group)!.push(i);
  });
  for (const idx of groups.values()) {
    const widths = idx.map((i) => items[i]!.width!);
    const n0 = Math.min(...widths);
    if (new Set(widths).size < 2) continue;
    const lr0 = [...new Set(idx.filter((i) => items[i]!.width === n0).map((i) => items[i]!.lr))];
    if (lr0.length !== 1) continue;
    const eta0 = lr0[0]!;
    const exps = new Map<number, number>();
    for (const i of idx) {
      const { width, lr } = items[i]!;
      if (width !== n0) exps.set(i, Math.round((100 * -Math.log(lr / eta0)) / Math.log(width! / n0)) / 100 + 0);
    }
    const all = [...new Set(exps.values())].sort((a, b) => a - b);
    for (const i of idx) out[i] = exps.has(i) ? [exps.get(i)!] : all;
  }
  return out;
}

/** The exponent a run's table row shows: its own, or for a run at n0 (all exponents) 0.5 if present, else the smallest. */
export function primaryExponent(exps: readonly number[]): number {
  return exps.includes(0.5) ? 0.5 : exps[0]!;
}

/** "η fixed" for e = 0, else "η ∝ n^−e". */
export function lrScalingLabel(e: number): string {
  return e === 0 ? "η fixed" : `η ∝ n^${e > 0 ? "−" : ""}${Math.abs(e)}`;
}
