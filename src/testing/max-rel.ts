// The comparison the fused-kernel and decoder tests state their tolerances in.

/** max|a − b| / max|b| (the largest error against the reference's scale; 0 / 0 counts as 0). */
export function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 1e-30;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}
