// `sweep --workers N` (and the quickstart's default, `auto`): N − 1 more worker processes on this machine beside the
// calling one, each a plain `sweep <experiment> --no-report` on the same results folder, so the claims
// (src/sweep/claims.ts) split the cells exactly as between cluster workers. The machine's cores are divided between
// the workers (the native matmul's threads), which on a CPU beats one process using every core: a small model's
// step is mostly single-threaded dispatch, which the other worker overlaps. Each child runs in its own process group,
// so a terminal's Ctrl-C reaches only this process, which passes every SIGINT and SIGTERM on to the children: they
// checkpoint and stop like the caller. Their output comes back line by line, prefixed with the worker's number.
import { spawn, type ChildProcess } from "node:child_process";
import * as os from "node:os";
import * as readline from "node:readline";
import { runTsArgv } from "./worker-command.ts";

/** The most workers `auto` starts: past this the quickstart's cells are too few to keep each one busy. */
export const AUTO_WORKERS_MAX = 4;

/** --workers as given: a positive integer, or "auto" (one per core on a CPU backend, at most AUTO_WORKERS_MAX). */
export function parseWorkers(v: string | number | undefined): number | "auto" {
  if (v === undefined) return 1;
  if (v === "auto") return "auto";
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--workers ${v}: must be a positive integer or "auto"`);
  return n;
}

/** Native matmul threads for each of n workers sharing this machine's cores. */
export function threadsPerWorker(n: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / n));
}

export interface LocalWorkers {
  /** Each child's exit code (null when a signal ended it), once all have exited. */
  readonly done: Promise<(number | null)[]>;
}

/**
 * Start `count` children running `run.ts <args>` with LORA_LAB_NATIVE_MATMUL_THREADS = threads (unless the caller's
 * environment sets it). `log` receives each line they print, as "[w<k>] line" (k = 2, 3, …; the caller is worker 1).
 */
export function startLocalWorkers(
  args: readonly string[],
  count: number,
  threads: number,
  log: (line: string) => void,
): LocalWorkers {
  const [node, ...pre] = runTsArgv();
  const env = {
    ...process.env,
    LORA_LAB_NATIVE_MATMUL_THREADS: process.env.LORA_LAB_NATIVE_MATMUL_THREADS ?? `${threads}`,
  };
  const children: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  for (let k = 2; k <= count + 1; k++) {
    const child = spawn(node!, [...pre, ...args], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    for (const stream of [child.stdout!, child.stderr!])
      readline.createInterface({ input: stream }).on("line", (line) => log(`[w${k}] ${line}`));
    exits.push(
      new Promise((resolve) => {
        child.on("error", (e) => {
          log(`[w${k}] could not start: ${e.message}`);
          resolve(1);
        });
        child.on("close", (code) => resolve(code));
      }),
    );
    children.push(child);
  }
  const forward = (sig: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const onInt = () => forward("SIGINT"),
    onTerm = () => forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const done = Promise.all(exits).finally(() => {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  });
  return { done };
}
