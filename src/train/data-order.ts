// Which examples make up batch k. The order is a function of (seed, step) alone — one seeded permutation per epoch —
// so a resumed run needs only the step count to continue on exactly the batches it would have seen.
import { Rng } from "../util/rng.ts";

export class DataOrder {
  private readonly perms = new Map<number, number[]>();

  constructor(
    private readonly n: number,
    private readonly seed: number,
    private readonly shuffle: boolean,
  ) {
    if (n <= 0) throw new Error("DataOrder: no training examples");
  }

  private epochPerm(epoch: number): number[] {
    let p = this.perms.get(epoch);
    if (!p) {
      p = this.shuffle
        ? Rng.derive(this.seed, `shuffle:${epoch}`).permutation(this.n)
        : Array.from({ length: this.n }, (_, i) => i);
      this.perms.clear(); // only the current epoch (and the next, transiently) are needed
      this.perms.set(epoch, p);
    }
    return p;
  }

  /** Example indices of batch `step` (0-based); a batch may straddle two epochs. */
  batch(step: number, batchSize: number): number[] {
    const out: number[] = [];
    for (let pos = step * batchSize; pos < (step + 1) * batchSize; pos++) {
      const epoch = Math.floor(pos / this.n);
      out.push(this.epochPerm(epoch)[pos % this.n]!);
    }
    return out;
  }

  /** Epochs (possibly fractional) completed after `steps` steps. */
  epochs(steps: number, batchSize: number): number {
    return (steps * batchSize) / this.n;
  }
}
