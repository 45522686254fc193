// Static shards: `--shard I/N` runs cell i of the experiment's (filtered) cell list when i mod N = I. Shards are
// disjoint, cover every cell, and depend on the cell list alone (not on what is done), so every array task of a
// Slurm job or pod of a Kubernetes Indexed Job computes the same split. Claims still apply inside a shard.
import { ConfigError } from "../config.ts";

export interface Shard {
  index: number;
  count: number;
  /** Where the shard came from, for the log: "--shard", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX". */
  source: string;
}

function int(s: string | undefined): number {
  return s !== undefined && /^\s*\d+\s*$/.test(s) ? Number(s) : NaN;
}

/** Parse "I/N" (0-based I < N). */
export function parseShard(spec: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new ConfigError(`--shard "${spec}": expected I/N with 0 ≤ I < N, e.g. --shard 0/4`);
  const index = Number(m[1]),
    count = Number(m[2]);
  if (count < 1 || index >= count)
    throw new ConfigError(`--shard ${spec}: the index must be 0 … ${Math.max(0, count - 1)} (0-based) and N ≥ 1`);
  return { index, count, source: "--shard" };
}

/**
 * The shard to run: --shard when given; else a Slurm array task (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of
 * SLURM_ARRAY_TASK_COUNT); else a Kubernetes Indexed Job pod (JOB_COMPLETION_INDEX of --shards N); else none.
 */
export function selectShard(
  opts: { shard?: string; shards?: number },
  env: NodeJS.ProcessEnv = process.env,
): Shard | null {
  if (opts.shard !== undefined) return parseShard(opts.shard);
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const id = int(env.SLURM_ARRAY_TASK_ID),
      min = int(env.SLURM_ARRAY_TASK_MIN ?? "0"),
      count = int(env.SLURM_ARRAY_TASK_COUNT);
    if (!Number.isInteger(id) || !Number.isInteger(min) || !Number.isInteger(count)) {
      throw new ConfigError(
        `SLURM_ARRAY_TASK_ID=${env.SLURM_ARRAY_TASK_ID}, SLURM_ARRAY_TASK_COUNT=${env.SLURM_ARRAY_TASK_COUNT}: not a contiguous job array; pass --shard I/N`,
      );
    }
    const s = parseShard(`${id - min}/${count}`);
    return { ...s, source: "SLURM_ARRAY_TASK_ID" };
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const idx = int(env.JOB_COMPLETION_INDEX);
    if (!opts.shards)
      throw new ConfigError(
        `JOB_COMPLETION_INDEX=${env.JOB_COMPLETION_INDEX} is set: pass --shards N (the Job's completions) so the index selects a shard`,
      );
    if (!Number.isInteger(idx))
      throw new ConfigError(`JOB_COMPLETION_INDEX=${env.JOB_COMPLETION_INDEX}: not an integer`);
    return { ...parseShard(`${idx}/${opts.shards}`), source: "JOB_COMPLETION_INDEX" };
  }
  if (opts.shards !== undefined)
    throw new ConfigError(
      `--shards ${opts.shards} needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or use --shard I/N`,
    );
  return null;
}

/** The cells of one shard, in the list's order. */
export function shardCells<T>(cells: readonly T[], shard: Shard | null): T[] {
  return shard ? cells.filter((_, i) => i % shard.count === shard.index) : [...cells];
}
