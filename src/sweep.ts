// An experiment is a base config plus axes; a sweep is the cartesian product of the axes. Each cell becomes a
// resolved RunConfig with a readable run id ending in a hash of the config, so an edited config never reuses a
// stale result. This file only computes cells and their status; src/cli/sweep.ts runs them.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  ALL_OPTIMIZER_KEYS,
  ConfigError,
  mergeConfig,
  optimizerKeys,
  resolveRunConfig,
  type DeepPartial,
  type RunConfig,
} from "./config.ts";
import { OPTIMIZER_NAMES, type OptimizerName } from "./optim/types.ts";
import { RUN_FILES, runDir, type RunSummary } from "./results.ts";

/** An axis: a dotted config path and its values. An object value is deep-merged at that path (coupled settings). */
export interface Axis {
  readonly key: string;
  readonly values: readonly unknown[];
}

export interface Experiment {
  readonly name: string;
  readonly description: string;
  readonly base: DeepPartial<RunConfig>;
  readonly axes: readonly Axis[];
  /** Drop cells that make no sense (e.g. λ values for non-Stable-LoRA optimizers). */
  readonly filter?: (cfg: RunConfig) => boolean;
  /** Rough seconds one cell takes on the wasm backend on 2 CPU cores (for --dry-run). */
  readonly estimateSeconds?: (cfg: RunConfig) => number;
  /** What the paper reports for this experiment, for the reporter (keys understood by src/report). */
  readonly paperRef?: string;
}

/** The experiments an installation knows, by name (experiments/index.ts; run.ts hands it to the commands). */
export type ExperimentRegistry = Readonly<Record<string, Experiment>>;

export function findExperiment(experiments: ExperimentRegistry, name: string): Experiment {
  const e = experiments[name];
  if (!e) {
    const known = Object.keys(experiments).join(", ");
    throw new ConfigError(`unknown experiment "${name}". Known: ${known} (see \`run.ts list\`)`);
  }
  return e;
}

export interface Cell {
  readonly runId: string;
  readonly configHash: string;
  readonly config: RunConfig;
  /** The axis values of this cell, for tables and --only. */
  readonly coords: Readonly<Record<string, unknown>>;
}

/** Deterministic JSON (sorted keys) for hashing. */
export function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(",")}]`;
  if (x && typeof x === "object") {
    return `{${Object.keys(x as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(x);
}

/**
 * Hash of everything that can change a run's numbers (dataDir is where the data lives, not what it is). Only the
 * settings of the run's own optimizer count: a config.json written before optimizers had their own configs (with
 * every optimizer's settings) hashes like the same run's config today (docs/scale-out.md, "Run ids").
 */
export function configHash(cfg: RunConfig): string {
  const { dataDir: _dataDir, ...rest } = cfg;
  const opt = cfg.optimizer as Record<string, unknown>;
  const own = OPTIMIZER_NAMES.includes(opt?.name as never)
    ? optimizerKeys(opt.name as OptimizerName)
    : Object.keys(opt ?? {});
  const optimizer = Object.fromEntries(Object.entries(opt ?? {}).filter(([k]) => own.includes(k)));
  return createHash("sha256")
    .update(canonicalJson({ ...rest, optimizer }))
    .digest("hex")
    .slice(0, 6);
}

/** "Qwen/Qwen2-0.5B" → "qwen2-0.5b", "meta-llama/Llama-3.2-1B" → "llama3.2-1b", "../x/stories260K" → "stories260k". */
export function modelSlug(model: string): string {
  const base = model.replace(/\/+$/, "").split("/").pop() ?? model;
  return (
    base
      .toLowerCase()
      .replace(/^llama-/, "llama")
      .replace(/[^a-z0-9.=,]+/g, "-")
      .replace(/^-|-$/g, "") || "model"
  );
}

function fmtNum(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return x
    .toExponential()
    .replace(/\.?0+e/, "e")
    .replace("e+", "e")
    .replace("e-0", "e-")
    .replace(/e0$/, "");
}

const SHORT: Record<string, string> = {
  "optimizer.lr": "lr",
  "optimizer.lambda": "lam",
  "optimizer.lrRatio": "ratio",
  "optimizer.delta": "delta",
  "optimizer.weightDecay": "wd",
  "optimizer.stopCondition": "stop",
  "lora.alpha": "alpha",
  "lora.r": "r",
  "lora.targets": "tgt",
  "train.steps": "steps",
  "train.batchSize": "bs",
};

function getPath(obj: unknown, key: string): unknown {
  return key
    .split(".")
    .reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), obj);
}

function setPathPatch(key: string, value: unknown): Record<string, unknown> {
  const parts = key.split(".");
  const patch: Record<string, unknown> = {};
  let node = patch;
  for (const p of parts.slice(0, -1)) node = node[p] = {} as Record<string, unknown>;
  node[parts[parts.length - 1]!] = value;
  return patch;
}

function shortValue(key: string, v: unknown): string {
  if (key === "lora.targets" && Array.isArray(v)) return v.map((t) => String(t)[0]).join("");
  if (typeof v === "number") return fmtNum(v);
  if (typeof v === "boolean") return v ? "on" : "off";
  return String(v).replace(/[^A-Za-z0-9.]+/g, "-");
}

/**
 * The dotted keys that vary across an experiment's cells, for run ids. A coupled axis (values are objects, e.g.
 * optimizer = {name, lr, lambda}) contributes each leaf whose value differs between its entries.
 */
export function varyingKeys(axes: readonly Axis[]): string[] {
  const keys: string[] = [];
  for (const a of axes) {
    if (a.values.length < 2) continue;
    const objects = a.values.filter(
      (v): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v),
    );
    if (objects.length === 0) {
      keys.push(a.key);
      continue;
    }
    const leaves = new Set(objects.flatMap((o) => Object.keys(o)));
    for (const leaf of leaves) {
      if (new Set(objects.map((o) => JSON.stringify(o[leaf]))).size > 1) keys.push(`${a.key}.${leaf}`);
    }
  }
  return keys;
}

/** Readable id: <task>--<model>--<optimizer>--<varying hparams>--s<seed>--<hash6>. */
export function runIdFor(
  cfg: RunConfig,
  varyingKeys: readonly string[],
  hash: string,
  coords: Readonly<Record<string, unknown>> = {},
): string {
  const task = cfg.task ?? (cfg.data ? path.basename(cfg.data).replace(/\.jsonl$/, "") : "data");
  const fields = [task, modelSlug(cfg.model), cfg.optimizer.name];
  const hp: string[] = [];
  for (const key of varyingKeys) {
    if (["task", "model", "seed", "optimizer.name"].includes(key)) continue;
    // A leaf of a coupled axis is named only in the cells whose axis value sets it (λ for Stable-LoRA, not AdamW).
    const axis = Object.keys(coords).find(
      (a) => key.startsWith(`${a}.`) && coords[a] && typeof coords[a] === "object" && !Array.isArray(coords[a]),
    );
    if (axis && !(key.slice(axis.length + 1) in (coords[axis] as Record<string, unknown>))) continue;
    const v = getPath(cfg, key);
    if (v !== undefined) hp.push(`${SHORT[key] ?? key.split(".").pop()}${shortValue(key, v)}`);
  }
  if (hp.length) fields.push(hp.join("-"));
  fields.push(`s${cfg.seed}`, hash);
  return fields.join("--");
}

/**
 * Parse `--only k=v[,v2]` filters: a cell is kept when, for every key, its value (as a string) is among the values.
 * The same key given twice adds values (`--only model=random:d=64,L=2 --only model=random:d=128,L=2`), which is
 * how to pick several values that themselves hold commas.
 */
export function parseOnly(filters: readonly string[]): { key: string; values: string[] }[] {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--only "${f}": expected key=value, e.g. --only optimizer=stable-lora`);
    // The whole value is tried as well as its comma-separated parts (model ids like "random:d=64,L=2" hold commas).
    const raw = f.slice(eq + 1).trim();
    const key = f.slice(0, eq).trim();
    byKey.set(key, [...(byKey.get(key) ?? []), raw, ...raw.split(",").map((s) => s.trim())]);
  }
  return [...byKey].map(([key, values]) => ({ key, values }));
}

const ONLY_ALIASES: Record<string, string> = {
  optimizer: "optimizer.name",
  lr: "optimizer.lr",
  lambda: "optimizer.lambda",
  targets: "lora.targets",
};

function matchesOnly(cfg: RunConfig, only: { key: string; values: string[] }[]): boolean {
  return only.every(({ key, values }) => {
    const full = ONLY_ALIASES[key] ?? key;
    const v = getPath(cfg, full);
    // λ of an AdamW cell: that optimizer has no such setting, so the cell does not match.
    if (
      v === undefined &&
      full.startsWith("optimizer.") &&
      ALL_OPTIMIZER_KEYS.includes(full.slice("optimizer.".length))
    )
      return false;
    if (v === undefined)
      throw new ConfigError(
        `--only ${key}: "${key}" is not a config key (try optimizer, model, task, seed, optimizer.lr, …)`,
      );
    const s = Array.isArray(v) ? v.join(",") : String(v);
    return values.some(
      (x) =>
        x === s ||
        (typeof v === "number" && Number(x) === v) ||
        (key === "model" && modelSlug(String(v)) === x.toLowerCase()),
    );
  });
}

/**
 * Expand an experiment into cells: DEFAULT ⊕ base ⊕ axis values ⊕ overrides, validated. `overrides` (from --set)
 * apply to every cell and change every hash.
 */
export function expandExperiment(
  exp: Experiment,
  opts: { overrides?: Record<string, unknown>; only?: readonly string[] } = {},
): Cell[] {
  for (const a of exp.axes)
    if (a.values.length === 0) throw new ConfigError(`experiment ${exp.name}: axis "${a.key}" has no values`);
  const only = parseOnly(opts.only ?? []);
  const varying = varyingKeys(exp.axes);
  let combos: Record<string, unknown>[] = [{}];
  for (const axis of exp.axes) combos = combos.flatMap((c) => axis.values.map((v) => ({ ...c, [axis.key]: v })));
  const cells: Cell[] = [];
  const seen = new Set<string>();
  const setOptimizer = (opts.overrides?.optimizer ?? {}) as Record<string, unknown>;
  const usedSetKeys = new Set<string>();
  for (const coords of combos) {
    let patch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(coords)) patch = mergeConfig(patch, setPathPatch(k, v));
    let config: RunConfig;
    try {
      config = resolveRunConfig(exp.base, patch, cellOverrides(exp.base, patch, opts.overrides, usedSetKeys));
    } catch (e) {
      throw new ConfigError(`experiment ${exp.name}, cell ${JSON.stringify(coords)}: ${(e as Error).message}`);
    }
    if (exp.filter && !exp.filter(config)) continue;
    if (!matchesOnly(config, only)) continue;
    const hash = configHash(config);
    const runId = runIdFor(config, varying, hash, coords);
    if (seen.has(runId)) continue; // two axis combinations that resolve to the same config
    seen.add(runId);
    cells.push({ runId, configHash: hash, config, coords });
  }
  const unused = Object.keys(setOptimizer).filter((k) => !usedSetKeys.has(k));
  if (unused.length) {
    const names = [...new Set(combos.map((c) => optimizerNameOf(exp.base, c, opts.overrides)))];
    throw new ConfigError(
      `--set ${unused.map((k) => `optimizer.${k}`).join(", ")}: no optimizer of experiment ${exp.name} (${names.join(", ")}) has this setting`,
    );
  }
  if (cells.length === 0 && only.length > 0) {
    // A typo in --only (optimizer=stable_lora) would otherwise run nothing and report success.
    const onAxes = exp.axes.map(
      (a) =>
        `${a.key} ∈ {${a.values.map((v) => (v && typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ")}}`,
    );
    throw new ConfigError(
      `--only ${(opts.only ?? []).join(" ")}: no cell of experiment ${exp.name} matches. Its axes: ${onAxes.join("; ")}`,
    );
  }
  return cells;
}

function optimizerNameOf(
  base: unknown,
  coords: Record<string, unknown>,
  overrides: Record<string, unknown> | undefined,
): string {
  let patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(coords)) patch = mergeConfig(patch, setPathPatch(k, v));
  return String(
    getPath(overrides, "optimizer.name") ??
      getPath(patch, "optimizer.name") ??
      getPath(base, "optimizer.name") ??
      "adamw",
  );
}

/**
 * `--set` for one cell: optimizer settings the cell's optimizer does not have are left out (so `--set
 * optimizer.lambda=…` changes the Stable-LoRA cells of a sweep and leaves the ids of its AdamW cells alone); the keys
 * used are recorded so that a setting no cell has is reported.
 */
function cellOverrides(
  base: unknown,
  patch: Record<string, unknown>,
  overrides: Record<string, unknown> | undefined,
  used: Set<string>,
): Record<string, unknown> | undefined {
  const opt = overrides?.optimizer as Record<string, unknown> | undefined;
  if (!overrides || !opt || typeof opt !== "object") return overrides;
  const name = String(opt.name ?? getPath(patch, "optimizer.name") ?? getPath(base, "optimizer.name") ?? "adamw");
  const own = OPTIMIZER_NAMES.includes(name as never) ? optimizerKeys(name as OptimizerName) : Object.keys(opt);
  const kept = Object.fromEntries(Object.entries(opt).filter(([k]) => own.includes(k)));
  for (const k of Object.keys(kept)) used.add(k);
  return { ...overrides, optimizer: kept };
}

export type CellStatus = "new" | "success" | "diverged" | "failed" | "interrupted" | "running" | "partial";

/** Status of a cell from its folder: new (no folder), partial (config but no summary: crashed or running), or the summary's. */
export function cellStatus(resultsDir: string, experiment: string, cell: Cell): CellStatus {
  const dir = runDir(resultsDir, experiment, cell.runId);
  const summaryFile = path.join(dir, RUN_FILES.summary);
  if (fs.existsSync(summaryFile)) {
    try {
      return (JSON.parse(fs.readFileSync(summaryFile, "utf8")) as RunSummary).status;
    } catch {
      return "partial";
    }
  }
  return fs.existsSync(path.join(dir, RUN_FILES.config)) ? "partial" : "new";
}

/** Finished cells are skipped: a success, or a diverged run (a result of the stability study, not an error). */
export function isFinished(status: CellStatus): boolean {
  return status === "success" || status === "diverged";
}

/**
 * Guard against two different configs under one id (e.g. code defaults changed between versions): the folder's
 * config.json must hash to the cell's hash. Throws with the fix; never touches the folder.
 */
export function assertSameConfig(dir: string, cell: Cell): void {
  const file = path.join(dir, RUN_FILES.config);
  if (!fs.existsSync(file)) return;
  let existing: RunConfig;
  try {
    existing = JSON.parse(fs.readFileSync(file, "utf8")) as RunConfig;
  } catch (e) {
    throw new ConfigError(
      `${file}: not valid JSON (${(e as Error).message}); move the folder aside to rerun this cell`,
    );
  }
  const h = configHash(existing);
  if (h !== cell.configHash) {
    throw new ConfigError(
      `${file} was written by a different config (hash ${h}) than this cell (hash ${cell.configHash}) under the same run id. ` +
        `Nothing was changed; move or delete ${dir} yourself if it is stale.`,
    );
  }
}
