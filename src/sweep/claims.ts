// Claims: how any number of `sweep` workers (one machine or many sharing a filesystem, NFS included) split the cells
// of one results folder so that each cell is trained by exactly one worker at a time. See docs/scale-out.md.
//
// results/<experiment>/.claims/<runId>/g<generation>.json, one file per generation. Taking a cell = creating the
// next generation's file with link(2) from a fully written temp file: atomic, fails when the name exists (also on
// NFS), and a reader never sees a half-written claim. The highest generation is the claim in force. Its holder
// rewrites it (temp + rename) every heartbeat; when its heartbeat is older than the lease, the claim is stale and the
// next worker creates generation + 1 (only one can) and resumes the cell from its checkpoint. A holder that finds a
// higher generation than its own has lost the cell and stops (fencing). Releasing removes the folder's files.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError } from "../config.ts";
import { uniqueTmpSuffix, writeFileAtomic, writeFileSynced } from "../results.ts";

export const DEFAULT_LEASE_SECONDS = 300;

export interface ClaimInfo {
  runId: string;
  host: string;
  pid: number;
  /** When this worker took the cell (ISO). */
  startedAt: string;
  /** Last heartbeat (ISO, the holder's clock: hosts sharing a folder need synchronised clocks, e.g. NTP). */
  heartbeatAt: string;
  /** The lease the holder runs with, in seconds (readers judge staleness with their own --lease). */
  leaseSeconds: number;
  /** Training steps done, as of the last heartbeat. */
  step: number;
  totalSteps: number;
  generation: number;
  /** The Slurm or Kubernetes task that holds it, when there is one. */
  task?: string;
}

export interface ClaimView {
  info: ClaimInfo;
  file: string;
  ageSeconds: number;
  stale: boolean;
}

export class ClaimError extends ConfigError {
  override name = "ClaimError";
}

export function claimsRoot(resultsDir: string, experiment: string): string {
  return path.join(resultsDir, experiment, ".claims");
}

function claimDir(resultsDir: string, experiment: string, runId: string): string {
  return path.join(claimsRoot(resultsDir, experiment), runId);
}

const GEN_RE = /^g(\d{6})\.json$/;
const genFile = (dir: string, g: number) => path.join(dir, `g${String(g).padStart(6, "0")}.json`);

/**
 * The names in a folder, or none when it does not exist or is not a folder (another worker may remove a claim
 * folder at any moment, between any two calls of ours).
 */
function listOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw e;
  }
}

function generations(dir: string): number[] {
  return listOrEmpty(dir)
    .map((n) => GEN_RE.exec(n))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** A lease must be a positive number of seconds. */
export function checkLease(lease: number): number {
  if (!Number.isFinite(lease) || lease <= 0)
    throw new ConfigError(
      `--lease ${lease}: the lease must be a positive number of seconds (default ${DEFAULT_LEASE_SECONDS})`,
    );
  return lease;
}

/** The claim in force on a cell, or null. A claim file that is not JSON is an error naming the file and the fix. */
export function readClaim(
  resultsDir: string,
  experiment: string,
  runId: string,
  leaseSeconds: number,
  now = Date.now(),
): ClaimView | null {
  const dir = claimDir(resultsDir, experiment, runId);
  const gens = generations(dir);
  if (gens.length === 0) return null;
  const file = genFile(dir, gens.at(-1)!);
  let info: ClaimInfo;
  try {
    info = JSON.parse(fs.readFileSync(file, "utf8")) as ClaimInfo;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null; // released while we looked
    throw new ClaimError(
      `${file}: the claim file is not valid JSON (${(e as Error).message}). If no worker runs this cell, delete the file; no result was touched`,
    );
  }
  const beat = Date.parse(info.heartbeatAt);
  if (!Number.isFinite(beat))
    throw new ClaimError(
      `${file}: the claim has no valid heartbeatAt. If no worker runs this cell, delete the file; no result was touched`,
    );
  const ageSeconds = Math.max(0, (now - beat) / 1000);
  return { info, file, ageSeconds, stale: ageSeconds > leaseSeconds || deadHereAlready(info) };
}

/**
 * A claim held by a process of this host that no longer exists is stale at once (a `kill -9`ed sweep rerun on the
 * same machine need not wait out the lease). Assumes one pid namespace per host name, as on a Slurm node.
 */
function deadHereAlready(info: ClaimInfo): boolean {
  if (info.host !== os.hostname() || !Number.isInteger(info.pid) || info.pid === process.pid) return false;
  try {
    process.kill(info.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export interface Claim {
  readonly info: ClaimInfo;
  readonly file: string;
  /** Rewrite the claim with a fresh heartbeat. Returns false when a newer generation took the cell over. */
  heartbeat(step: number): boolean;
  /** Whether a higher generation exists (this worker has lost the cell). */
  lost(): boolean;
  /** Remove this claim and the stale generations below it. */
  release(): void;
}

/**
 * Take the cell when no fresh claim holds it: null when another worker holds it (or won the race for it).
 * The caller must re-check the cell's status after taking it (another worker may have just finished it).
 */
export function tryClaim(
  resultsDir: string,
  experiment: string,
  runId: string,
  opts: { leaseSeconds: number; totalSteps: number; task?: string },
): Claim | null {
  const cur = readClaim(resultsDir, experiment, runId, opts.leaseSeconds);
  if (cur && !cur.stale) return null;
  const dir = claimDir(resultsDir, experiment, runId);
  fs.mkdirSync(dir, { recursive: true });
  const generation = cur ? cur.info.generation + 1 : 0;
  const now = new Date().toISOString();
  const info: ClaimInfo = {
    runId,
    host: os.hostname(),
    pid: process.pid,
    startedAt: now,
    heartbeatAt: now,
    leaseSeconds: opts.leaseSeconds,
    step: 0,
    totalSteps: opts.totalSteps,
    generation,
    ...(opts.task ? { task: opts.task } : {}),
  };
  const file = genFile(dir, generation);
  const tmp = path.join(dir, `.${uniqueTmpSuffix()}`);
  try {
    writeFileSynced(tmp, JSON.stringify(info, null, 2) + "\n");
  } catch (e) {
    // Another worker released its claim and removed the (empty) folder after our mkdir: the cell changed hands
    // under us, so report it as held; the caller looks at it again on its next pass.
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return null; // another worker won this generation
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return claimHandle(info, dir, file);
}

function claimHandle(info: ClaimInfo, dir: string, file: string): Claim {
  const lost = () => generations(dir).some((g) => g > info.generation);
  return {
    info,
    file,
    lost,
    heartbeat(step: number): boolean {
      if (lost()) return false;
      info.step = step;
      info.heartbeatAt = new Date().toISOString();
      writeFileAtomic(file, JSON.stringify(info, null, 2) + "\n");
      return true;
    },
    release(): void {
      for (const g of generations(dir)) if (g <= info.generation) fs.rmSync(genFile(dir, g), { force: true });
      // our own heartbeat's temp file, when the thread was stopped mid-write (src/sweep/heartbeat.ts)
      for (const n of listOrEmpty(dir))
        if (n.includes(`.hb-${process.pid}-`)) fs.rmSync(path.join(dir, n), { force: true });
      try {
        fs.rmdirSync(dir);
      } catch {
        // not empty (a newer generation) or already gone
      }
    },
  };
}

/** Every claim in force under results/<experiment>/.claims, by run id. */
export function readAllClaims(resultsDir: string, experiment: string, leaseSeconds: number): Map<string, ClaimView> {
  const out = new Map<string, ClaimView>();
  const root = claimsRoot(resultsDir, experiment);
  for (const runId of listOrEmpty(root)) {
    const v = readClaim(resultsDir, experiment, runId, leaseSeconds);
    if (v) out.set(runId, v);
  }
  return out;
}
