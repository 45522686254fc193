// Run ids from before each optimizer had its own config. Those runs' config.json holds every optimizer's settings,
// so their id hash differs from today's, though configHash (which counts only the run's own optimizer's settings)
// recognises them as the same runs. `sweep <exp> --migrate-ids` renames such folders to today's ids once; until
// then a sweep refuses to start, so that it never silently reruns finished work (docs/scale-out.md, "Run ids").
import * as fs from "node:fs";
import * as path from "node:path";
import type { RunConfig } from "../config.ts";
import { RUN_FILES, runDir, writeJsonAtomic } from "../results.ts";
import { configHash, type Cell } from "../sweep.ts";

export interface LegacyFolder {
  /** The folder's current name. */
  from: string;
  cell: Cell;
}

/** Folders of results/<experiment>/ that hold a cell's run under an older id (the cell's own folder absent). */
export function findLegacyFolders(resultsDir: string, experiment: string, cells: readonly Cell[]): LegacyFolder[] {
  const root = path.join(resultsDir, experiment);
  if (!fs.existsSync(root)) return [];
  const ids = new Set(cells.map((c) => c.runId));
  const byHash = new Map(cells.map((c) => [c.configHash, c]));
  const out: LegacyFolder[] = [];
  for (const name of fs.readdirSync(root)) {
    if (name.startsWith(".") || name === "slurm" || ids.has(name)) continue;
    let cfg: RunConfig;
    try {
      cfg = JSON.parse(fs.readFileSync(path.join(root, name, RUN_FILES.config), "utf8")) as RunConfig;
    } catch {
      continue; // not a run folder, or unreadable: not ours to move
    }
    const cell = byHash.get(configHash(cfg));
    if (cell && !fs.existsSync(runDir(resultsDir, experiment, cell.runId))) out.push({ from: name, cell });
  }
  return out;
}

function rewriteJson(file: string, patch: Record<string, unknown>): void {
  if (!fs.existsSync(file)) return;
  const value = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  writeJsonAtomic(file, { ...value, ...patch });
}

/** Rename one folder to its cell's id and update the id and hash its summary and checkpoints record. */
export function migrateFolder(resultsDir: string, experiment: string, l: LegacyFolder): void {
  const to = runDir(resultsDir, experiment, l.cell.runId);
  fs.renameSync(path.join(resultsDir, experiment, l.from), to);
  rewriteJson(path.join(to, RUN_FILES.summary), {
    runId: l.cell.runId,
    configHash: l.cell.configHash,
    migratedFrom: l.from,
  });
  for (const d of fs
    .readdirSync(to)
    .filter((n) => n === RUN_FILES.checkpoint || n.startsWith(`${RUN_FILES.checkpoint}.`))) {
    rewriteJson(path.join(to, d, "state.json"), { configHash: l.cell.configHash });
  }
}
