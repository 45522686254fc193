// Reads a JSONL file of {"context", "continuation"} lines: the input of `score` and of `train --data`.
// Every problem is reported with the file and 1-based line number, and the fix.
import * as fs from "node:fs";
import type { LoglikelihoodRequest } from "../eval/types.ts";

export class DataFileError extends Error {
  override name = "DataFileError";
}

export function readPairsJsonl(file: string, opts: { allowEmptyContinuation?: boolean } = {}): LoglikelihoodRequest[] {
  if (!fs.existsSync(file)) throw new DataFileError(`${file}: file not found`);
  const out: LoglikelihoodRequest[] = [];
  const lines = fs.readFileSync(file, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const where = `${file}:${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new DataFileError(`${where}: not valid JSON (${(e as Error).message}); each line must be {"context": "...", "continuation": "..."}`);
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) throw new DataFileError(`${where}: expected a JSON object with "context" and "continuation"`);
    const r = row as Record<string, unknown>;
    for (const k of ["context", "continuation"] as const) {
      if (typeof r[k] !== "string") throw new DataFileError(`${where}: field "${k}" is ${r[k] === undefined ? "missing" : `a ${typeof r[k]}`}; it must be a string`);
    }
    if (!opts.allowEmptyContinuation && (r.continuation as string).length === 0) {
      throw new DataFileError(`${where}: "continuation" is empty; there is nothing to score or train on (give at least one character)`);
    }
    out.push({ context: r.context as string, continuation: r.continuation as string });
  }
  if (out.length === 0) throw new DataFileError(`${file}: no examples (the file is empty)`);
  return out;
}
