// `sweep <exp> --status`: where every cell of an experiment stands, from the results folder and the claims alone
// (no worker is contacted): done, running (holder, heartbeat age, step), stale (a claim past its lease: its worker
// died; the next worker resumes it), failed, diverged and to do, with counts and an ETA from the finished cells.
import * as fs from "node:fs";
import * as path from "node:path";
import { RUN_FILES, runDir, type RunSummary } from "../results.ts";
import { cellStatus, type Cell } from "../sweep.ts";
import { readClaim, type ClaimView } from "./claims.ts";

export type StatusKind = "done" | "running" | "stale" | "failed" | "diverged" | "todo";
export const STATUS_KINDS: readonly StatusKind[] = ["done", "running", "stale", "failed", "diverged", "todo"];

export interface CellStatusRow {
  runId: string;
  kind: StatusKind;
  /** The folder's status: new, partial, interrupted, failed, success, diverged. */
  folder: string;
  claim?: {
    host: string;
    pid: number;
    task?: string;
    heartbeatAgeSeconds: number;
    step: number;
    totalSteps: number;
    generation: number;
  };
  error?: string;
  seconds?: number;
}

export interface SweepStatus {
  experiment: string;
  cells: CellStatusRow[];
  counts: Record<StatusKind, number>;
  /** Seconds until every cell is done, from the mean duration of finished cells and the workers running now. */
  etaSeconds: number | null;
  meanCellSeconds: number | null;
}

function readSummary(dir: string): RunSummary | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.summary), "utf8")) as RunSummary;
  } catch {
    return null;
  }
}

export function sweepStatus(
  resultsDir: string,
  experiment: string,
  cells: readonly Cell[],
  leaseSeconds: number,
): SweepStatus {
  const rows: CellStatusRow[] = [];
  const durations: number[] = [];
  for (const c of cells) {
    const folder = cellStatus(resultsDir, experiment, c);
    const summary = folder === "new" ? null : readSummary(runDir(resultsDir, experiment, c.runId));
    const seconds = summary && summary.status !== "running" ? summary.trainSeconds + summary.evalSeconds : undefined;
    let kind: StatusKind;
    let claim: ClaimView | null = null;
    if (folder === "success") kind = "done";
    else if (folder === "diverged") kind = "diverged";
    else {
      claim = readClaim(resultsDir, experiment, c.runId, leaseSeconds);
      kind = claim ? (claim.stale ? "stale" : "running") : folder === "failed" ? "failed" : "todo";
    }
    if ((kind === "done" || kind === "diverged") && seconds !== undefined) durations.push(seconds);
    rows.push({
      runId: c.runId,
      kind,
      folder,
      ...(claim
        ? {
            claim: {
              host: claim.info.host,
              pid: claim.info.pid,
              ...(claim.info.task ? { task: claim.info.task } : {}),
              heartbeatAgeSeconds: claim.ageSeconds,
              step: claim.info.step,
              totalSteps: claim.info.totalSteps,
              generation: claim.info.generation,
            },
          }
        : {}),
      ...(summary?.error && kind !== "done" ? { error: summary.error } : {}),
      ...(seconds !== undefined ? { seconds } : {}),
    });
  }
  const counts = Object.fromEntries(STATUS_KINDS.map((k) => [k, rows.filter((r) => r.kind === k).length])) as Record<
    StatusKind,
    number
  >;
  const mean = durations.length ? durations.reduce((s, x) => s + x, 0) / durations.length : null;
  let eta: number | null = null;
  if (mean !== null) {
    const running = rows.filter((r) => r.kind === "running");
    const left =
      running.reduce((s, r) => s + Math.max(0, 1 - r.claim!.step / Math.max(1, r.claim!.totalSteps)), 0) +
      counts.stale +
      counts.failed +
      counts.todo;
    eta = (left * mean) / Math.max(1, running.length);
  }
  return { experiment, cells: rows, counts, etaSeconds: eta, meanCellSeconds: mean };
}

/** The table `--status` prints: counts, then one line per cell that is not done. */
export function formatStatus(s: SweepStatus, fmtDuration: (sec: number) => string): string {
  const out: string[] = [];
  const total = s.cells.length;
  out.push(`${s.experiment}: ${total} cells`);
  out.push(["", ...STATUS_KINDS.map((k) => k.padStart(9))].join("").trimStart());
  out.push(STATUS_KINDS.map((k) => String(s.counts[k]).padStart(k === "done" ? 4 : 9)).join(""));
  out.push(
    s.etaSeconds === null
      ? "ETA: ? (no finished cell yet)"
      : `ETA: ${fmtDuration(s.etaSeconds)} (mean ${fmtDuration(s.meanCellSeconds!)} a cell, ${Math.max(1, s.counts.running)} worker(s) at work)`,
  );
  const rows = s.cells.filter((r) => r.kind !== "done");
  if (rows.length) {
    out.push("");
    const table = rows.map((r) => [
      r.kind,
      r.runId,
      r.claim ? `${r.claim.host}:${r.claim.pid}${r.claim.task ? ` (${r.claim.task})` : ""}` : "",
      r.claim ? `${fmtDuration(r.claim.heartbeatAgeSeconds)} ago` : "",
      r.claim ? `${r.claim.step}/${r.claim.totalSteps}` : "",
      r.error ? r.error.slice(0, 80) : r.kind === "todo" && r.folder !== "new" ? `(${r.folder})` : "",
    ]);
    const head = ["status", "run id", "worker", "heartbeat", "step", "note"];
    const w = head.map((h, j) => Math.max(h.length, ...table.map((t) => t[j]!.length)));
    const fmt = (t: string[]) =>
      t
        .map((x, j) => x.padEnd(w[j]!))
        .join("  ")
        .trimEnd();
    out.push(fmt(head), ...table.map(fmt));
  }
  return out.join("\n");
}
