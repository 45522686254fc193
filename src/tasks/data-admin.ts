// Getting task data into `<dataDir>/<task>/`: `fetchTaskData` downloads the task's hub dataset files (parquet / JSONL /
// JSON of the splits it uses) through src/hub.ts into the HF cache and copies them to `<task>/hub/…`;
// `importTaskData` copies a local file or folder. Both validate every row before anything lands in the data dir
// and record the files with sha256 in `<task>/MANIFEST.json`.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadDocs, MissingDataError } from "./load.ts";
import { DataFileError, formatOf } from "./readers.ts";
import { getTask } from "./registry.ts";
import type { SplitName, TaskSpec } from "./types.ts";

export interface ManifestFile {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  /** Hub path or local source path. */
  readonly source: string;
}

export interface Manifest {
  readonly task: string;
  readonly how: "fetch" | "import";
  readonly repo?: string;
  readonly revision?: string;
  readonly at: string;
  readonly files: ManifestFile[];
  /** Rows per split, after validation. */
  readonly rows: Partial<Record<SplitName, number>>;
}

export function sha256File(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** The splits a task uses (train and eval), deduplicated. */
function usedSplits(task: TaskSpec): SplitName[] {
  return [...new Set([task.splits.train, task.splits.eval].filter((s): s is SplitName => !!s))];
}

/** Validate what is in `dataDir` for the task: rows per split that exist. Errors (bad rows) propagate. */
export async function countRows(task: TaskSpec, dataDir: string): Promise<Partial<Record<SplitName, number>>> {
  const rows: Partial<Record<SplitName, number>> = {};
  for (const split of task.outputType === "train_only"
    ? (["train"] as const)
    : (["train", "validation", "test"] as const)) {
    try {
      rows[split] = (await loadDocs(task, split, dataDir)).docs.length;
    } catch (e) {
      if (!(e instanceof MissingDataError)) throw e;
    }
  }
  return rows;
}

/** Hub file selection: data files under the config folder that name a split the task uses (all data files for train-only tasks). */
export function hubFileFilter(task: TaskSpec): (p: string) => boolean {
  const folder = task.hub?.folder;
  const splitRe =
    task.outputType === "train_only"
      ? /./
      : new RegExp(
          `(^|[^a-z])(${usedSplits(task)
            .map((s) => (s === "validation" ? "validation|dev|val" : s))
            .join("|")})([^a-z]|$)`,
          "i",
        );
  return (p) => {
    if (folder && !p.startsWith(folder + "/")) return false;
    const f = formatOf(p);
    if (f === null || f === "hellaswag-text" || /(^|\/)(dataset_infos?|dataset_dict|state)\.json$/i.test(p))
      return false;
    return splitRe.test((folder ? p.slice(folder.length + 1) : p).replace(/\.[a-z]+$/i, ""));
  };
}

export interface FetchOptions {
  readonly dataDir: string;
  readonly onProgress?: (file: string, loaded: number, total: number) => void;
  readonly log?: (msg: string) => void;
}

export async function fetchTaskData(taskName: string, opts: FetchOptions): Promise<Manifest> {
  const task = getTask(taskName);
  if (!task.hub) throw new Error(`task "${task.name}" has no hub source; use \`data import ${task.name} <path>\``);
  const { downloadRepoFiles } = await import("../hub.ts");
  const filter = hubFileFilter(task);
  const log = opts.log ?? (() => {});
  for (const revision of task.hub.revisions) {
    log(`${task.hub.repo} @ ${revision}: listing and downloading data files…`);
    const snapshot = await downloadRepoFiles({ type: "dataset", name: task.hub.repo }, filter, {
      revision,
      onProgress: opts.onProgress,
    });
    const files = [...walkFiles(snapshot)]
      .map((f) => path.relative(snapshot, f).split(path.sep).join("/"))
      .filter(filter);
    if (files.length === 0) {
      log(`  no data files for ${task.name} at ${revision}`);
      continue;
    }
    const manifest = await installFiles(
      task,
      opts.dataDir,
      files.map((rel) => ({
        from: path.join(snapshot, rel),
        to: path.join("hub", rel),
        source: `hf://datasets/${task.hub!.repo}@${revision}/${rel}`,
      })),
      {
        how: "fetch",
        repo: task.hub.repo,
        revision,
        force: true,
        // A fetch replaces what an earlier fetch left in hub/: a resharded or updated dataset must not keep old shards
        // (train-00000-of-00001 next to train-00000-of-00002 would be read as one split, rows twice).
        replaceDir: "hub",
      },
    );
    return manifest;
  }
  throw new Error(
    `no data files for task "${task.name}" in ${task.hub.repo} (revisions ${task.hub.revisions.join(", ")}); download them by hand and use \`data import ${task.name} <path>\``,
  );
}

export interface ImportOptions {
  readonly dataDir: string;
  /** Name a single file as this split (`<split>.<ext>`); otherwise the file keeps its name, which must name a split. */
  readonly split?: SplitName;
  readonly force?: boolean;
}

export async function importTaskData(taskName: string, source: string, opts: ImportOptions): Promise<Manifest> {
  const task = getTask(taskName);
  if (!fs.existsSync(source)) throw new Error(`${source}: not found; give a file or a folder of ${task.name} data`);
  let items: { from: string; to: string; source: string }[];
  if (fs.statSync(source).isDirectory()) {
    items = [...walkFiles(source)].map((f) => ({ from: f, to: path.relative(source, f), source: f }));
  } else {
    const ext = path.basename(source).replace(/^[^.]*/, "");
    items = [{ from: source, to: opts.split ? `${opts.split}${ext}` : path.basename(source), source }];
  }
  return installFiles(task, opts.dataDir, items, { how: "import", force: !!opts.force });
}

/**
 * Copy files into a staging copy of the task folder, validate every split that resolves there (an error names the
 * source file and line), then move them into `<dataDir>/<task>/` and write MANIFEST.json.
 */
async function installFiles(
  task: TaskSpec,
  dataDir: string,
  items: { from: string; to: string; source: string }[],
  meta: { how: "fetch" | "import"; repo?: string; revision?: string; force: boolean; replaceDir?: string },
): Promise<Manifest> {
  const dirName = task.dirNames[0]!;
  const finalDir = path.join(dataDir, dirName);
  const stagingRoot = path.join(dataDir, `.staging-${dirName}-${process.pid}`);
  const staging = path.join(stagingRoot, dirName);
  fs.rmSync(stagingRoot, { recursive: true, force: true });
  try {
    // Existing files first (less the folder being replaced), so validation sees the folder as it will be.
    const replaced = meta.replaceDir ? path.join(finalDir, meta.replaceDir) : null;
    const underReplaced = (p: string) => !!replaced && (p === replaced || p.startsWith(replaced + path.sep));
    if (fs.existsSync(finalDir))
      fs.cpSync(finalDir, staging, { recursive: true, filter: (src) => !underReplaced(src) });
    for (const it of items) {
      const dest = path.join(staging, it.to);
      if (fs.existsSync(dest) && !meta.force)
        throw new Error(`${path.join(finalDir, it.to)} already exists; pass --force to replace it`);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(it.from, dest);
    }
    let rows: Partial<Record<SplitName, number>>;
    try {
      rows = await countRows(task, stagingRoot);
    } catch (e) {
      // Name the source file, not the staging copy.
      let msg = (e as Error).message;
      for (const it of items) msg = msg.split(path.join(staging, it.to)).join(it.source);
      throw new DataFileError(`${msg}\nnothing was written to ${finalDir}`);
    }
    if (Object.keys(rows).length === 0) {
      throw new DataFileError(
        `none of ${items.map((i) => i.to).join(", ")} is recognised as a ${task.name} split: name files train.*, validation.* (or dev.*), test.*, or pass --split`,
      );
    }
    const files: ManifestFile[] = items.map((it) => {
      const p = path.join(staging, it.to);
      return {
        path: it.to.split(path.sep).join("/"),
        bytes: fs.statSync(p).size,
        sha256: sha256File(p),
        source: it.source,
      };
    });
    const previous = readManifest(finalDir);
    const manifest: Manifest = {
      task: task.name,
      how: meta.how,
      repo: meta.repo,
      revision: meta.revision,
      at: new Date().toISOString(),
      files: [
        ...(previous?.files ?? []).filter(
          (f) => !files.some((g) => g.path === f.path) && !underReplaced(path.join(finalDir, f.path)),
        ),
        ...files,
      ],
      rows,
    };
    fs.writeFileSync(path.join(staging, "MANIFEST.json"), JSON.stringify(manifest, null, 2) + "\n");
    fs.mkdirSync(finalDir, { recursive: true });
    // The old folder goes into staging (removed below) in one rename, so no stale file stays beside the new ones.
    if (replaced && fs.existsSync(replaced)) fs.renameSync(replaced, path.join(stagingRoot, "replaced"));
    for (const rel of [...items.map((i) => i.to), "MANIFEST.json"]) {
      const dest = path.join(finalDir, rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.renameSync(path.join(staging, rel), dest);
    }
    return manifest;
  } finally {
    fs.rmSync(stagingRoot, { recursive: true, force: true });
  }
}

export function readManifest(dir: string): Manifest | null {
  const f = path.join(dir, "MANIFEST.json");
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as Manifest) : null;
}

function* walkFiles(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && !e.name.startsWith(".")) yield* walkFiles(p);
    else if (e.isFile() || e.isSymbolicLink()) {
      if (e.name !== "MANIFEST.json" && !e.name.startsWith(".")) yield p;
    }
  }
}
