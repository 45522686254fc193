// Binomial confidence intervals for an accuracy measured on n documents: the Wilson score interval (Wilson 1927;
// Brown, Cai & DasGupta 2001 recommend it over the normal "Wald" interval, which collapses to a point at 0 % and
// 100 %). Used to tell an accuracy cell apart from the task's chance rate and from the ceiling (docs/paper-claims.md).

/** Two-sided standard normal quantile for 95 %: Φ⁻¹(0.975). */
export const Z95 = 1.959963984540054;

export interface BinomialInterval {
  /** Observed proportion k/n. */
  p: number;
  n: number;
  lo: number;
  hi: number;
}

/** Wilson score interval for a proportion p = k/n observed on n trials (p may be a mean of such proportions). */
export function wilsonInterval(p: number, n: number, z = Z95): BinomialInterval {
  if (!(n > 0) || !(p >= 0 && p <= 1)) return { p, n, lo: NaN, hi: NaN };
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { p, n, lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}
