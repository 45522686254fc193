// File-format readers for task data: JSONL, JSON arrays, parquet (hyparquet + hyparquet-compressors), JSONL with a
// separate labels file (SocialIQa's *-labels.lst), and klosax's 6-lines-per-task HellaSwag text. Each row comes with
// `where` ("file:line" or "file#index") so a bad row is reported with its file and line, and field helpers that
// throw DataFileError naming the field and the fix.
import * as fs from "node:fs";
import * as path from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import type { FileFormat, RawRow } from "./types.ts";

/** A data file problem: the message names the file and line (or row) and the fix. */
export class DataFileError extends Error {
  override name = "DataFileError";
}

export interface LocatedRow {
  readonly row: RawRow;
  readonly where: string;
}

export async function readRows(file: string, format: FileFormat, labelsFile?: string): Promise<LocatedRow[]> {
  if (!fs.existsSync(file)) throw new DataFileError(`${file}: file not found`);
  switch (format) {
    case "jsonl":
      return readJsonlRows(file);
    case "json":
      return readJsonArrayRows(file);
    case "parquet":
      return readParquetRows(file);
    case "jsonl+labels":
      if (!labelsFile) throw new Error(`readRows: format jsonl+labels needs a labels file for ${file}`);
      return readJsonlWithLabels(file, labelsFile);
    case "hellaswag-text":
      return readHellaswagText(file);
    default: {
      const never: never = format;
      throw new Error(`unknown format ${String(never)}`);
    }
  }
}

/** Guess a file's format from its name (for hub layouts and `data import`). */
export function formatOf(file: string): FileFormat | null {
  if (/\.jsonl$/i.test(file)) return "jsonl";
  if (/\.json$/i.test(file)) return "json";
  if (/\.parquet$/i.test(file)) return "parquet";
  if (/\.txt$/i.test(file)) return "hellaswag-text";
  return null;
}

export function readJsonlRows(file: string): LocatedRow[] {
  const out: LocatedRow[] = [];
  const lines = fs.readFileSync(file, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const where = `${file}:${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new DataFileError(`${where}: not valid JSON (${(e as Error).message}); each line must be one JSON object`);
    }
    out.push({ row: asObject(row, where), where });
  }
  if (out.length === 0) throw new DataFileError(`${file}: no rows (the file is empty)`);
  return out;
}

/** A JSON array of objects (LLM-Adapters, MetaMathQA-395K.json). Rows are named `file#index` (0-based). */
export function readJsonArrayRows(file: string): LocatedRow[] {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new DataFileError(`${file}: not valid JSON (${(e as Error).message}); expected a JSON array of objects`);
  }
  if (!Array.isArray(data)) throw new DataFileError(`${file}: expected a JSON array of objects, got ${typeof data}`);
  if (data.length === 0) throw new DataFileError(`${file}: no rows (empty array)`);
  return data.map((row, i) => {
    const where = `${file}#${i}`;
    return { row: asObject(row, where), where };
  });
}

/** Parquet, as the HF hub stores datasets. Nested columns (e.g. ARC's choices {text[], label[]}) come back as objects. */
export async function readParquetRows(file: string): Promise<LocatedRow[]> {
  let rows: Record<string, unknown>[];
  try {
    const buf = await asyncBufferFromFile(file);
    rows = (await parquetReadObjects({ file: buf, compressors })) as Record<string, unknown>[];
  } catch (e) {
    throw new DataFileError(`${file}: could not read as parquet (${(e as Error).message})`);
  }
  if (rows.length === 0) throw new DataFileError(`${file}: no rows`);
  return rows.map((row, i) => ({ row: normaliseParquetValue(row) as RawRow, where: `${file}#row${i}` }));
}

/** BigInt → number (parquet int64), recursively, so rows look like their JSON counterparts. */
function normaliseParquetValue(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(normaliseParquetValue);
  if (v && typeof v === "object" && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, normaliseParquetValue(x)]),
    );
  }
  return v;
}

/** SocialIQa's original release: questions in JSONL, labels "1"/"2"/"3" one per line in a parallel .lst file. */
export function readJsonlWithLabels(file: string, labelsFile: string): LocatedRow[] {
  if (!fs.existsSync(labelsFile)) {
    throw new DataFileError(
      `${labelsFile}: labels file not found (it must sit next to ${file}, line i = label of row i)`,
    );
  }
  const rows = readJsonlRows(file);
  const labels = fs
    .readFileSync(labelsFile, "utf8")
    .split("\n")
    .map((s) => s.trim());
  while (labels.length && labels[labels.length - 1] === "") labels.pop();
  if (labels.length !== rows.length) {
    throw new DataFileError(
      `${labelsFile}: has ${labels.length} labels but ${file} has ${rows.length} rows; they must be parallel, one label per row`,
    );
  }
  return rows.map((r, i) => ({
    row: { ...r.row, label: labels[i]! },
    where: `${r.where} (label ${labelsFile}:${i + 1})`,
  }));
}

/**
 * klosax/hellaswag_text_data: 6 lines per task — `activity_label: ctx`, the gold label 0–3, then 4 endings — made
 * from hellaswag_val.jsonl with the same cleaning as lm-eval's hellaswag preprocess. Rows come out already
 * processed ({query, choices, label, preprocessed: true}); see src/tasks/hellaswag.ts for what differs.
 */
export function readHellaswagText(file: string): LocatedRow[] {
  const lines = fs.readFileSync(file, "utf8").split("\n");
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) throw new DataFileError(`${file}: no rows (the file is empty)`);
  if (lines.length % 6 !== 0) {
    throw new DataFileError(
      `${file}: has ${lines.length} lines, not a multiple of 6; expected blocks of context, label, 4 endings (last complete block ends at line ${lines.length - (lines.length % 6)})`,
    );
  }
  const out: LocatedRow[] = [];
  for (let i = 0; i < lines.length; i += 6) {
    const where = `${file}:${i + 1}`;
    out.push({
      row: {
        query: lines[i]!,
        label: lines[i + 1]!.trim(),
        choices: lines.slice(i + 2, i + 6),
        preprocessed: true,
        ind: `val-${i / 6}`,
      },
      where,
    });
  }
  return out;
}

function asObject(row: unknown, where: string): RawRow {
  if (typeof row !== "object" || row === null || Array.isArray(row))
    throw new DataFileError(`${where}: expected a JSON object, got ${Array.isArray(row) ? "an array" : typeof row}`);
  return row as RawRow;
}

// ---- field helpers: every accessor names the file/line and the field ----

export function str(row: RawRow, key: string, where: string): string {
  const v = row[key];
  if (typeof v !== "string") throw new DataFileError(`${where}: field "${key}" is ${describe(v)}; it must be a string`);
  return v;
}

export function strArray(row: RawRow, key: string, where: string, minLength = 1): string[] {
  const v = row[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw new DataFileError(`${where}: field "${key}" is ${describe(v)}; it must be an array of strings`);
  if (v.length < minLength)
    throw new DataFileError(`${where}: field "${key}" has ${v.length} entries; at least ${minLength} needed`);
  return v as string[];
}

export function obj(row: RawRow, key: string, where: string): RawRow {
  const v = row[key];
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new DataFileError(`${where}: field "${key}" is ${describe(v)}; it must be an object`);
  return v as RawRow;
}

/** An integer label given as a number or a numeric string, checked to lie in [lo, hi]. */
export function intLabel(row: RawRow, key: string, where: string, lo: number, hi: number): number {
  const v = row[key];
  const n = typeof v === "number" ? v : typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (v === undefined || v === null)
    throw new DataFileError(`${where}: field "${key}" is missing; it must be an integer label in ${lo}..${hi}`);
  if (!Number.isInteger(n))
    throw new DataFileError(
      `${where}: field "${key}" is ${JSON.stringify(v)}; it must be an integer label in ${lo}..${hi}`,
    );
  if (n < lo || n > hi)
    throw new DataFileError(`${where}: label "${key}" = ${n} is out of range; it must be in ${lo}..${hi}`);
  return n;
}

function describe(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v} (${JSON.stringify(v).slice(0, 40)})`;
}

/** "…/datasets/siqa/dev.jsonl:12 (label …)" → "dev.jsonl:12": a stable doc id for sources without ids. */
export function shortWhere(where: string): string {
  const base = where.split(" (")[0]!;
  const m = /^(.*?)((?::\d+|#[\w]+))$/.exec(base);
  return m ? path.basename(m[1]!) + m[2]! : path.basename(base);
}
