// Reads a JSONL file of {"context", "continuation"} lines: the input of `score` and of `train --data`.
// Every problem is reported with the file and 1-based line number, and the fix.
import * as fs from "node:fs";
import type { LoglikelihoodRequest } from "./types.ts";
import { DataFileError, readJsonlRows } from "./readers.ts";

export { DataFileError };

export function readPairsJsonl(file: string, opts: { allowEmptyContinuation?: boolean } = {}): LoglikelihoodRequest[] {
  if (!fs.existsSync(file)) throw new DataFileError(`${file}: file not found`);
  const out: LoglikelihoodRequest[] = [];
  for (const { row: r, where } of readJsonlRows(file)) {
    for (const k of ["context", "continuation"] as const) {
      if (typeof r[k] !== "string")
        throw new DataFileError(
          `${where}: field "${k}" is ${r[k] === undefined ? "missing" : `a ${typeof r[k]}`}; it must be a string`,
        );
    }
    if (!opts.allowEmptyContinuation && (r.continuation as string).length === 0) {
      throw new DataFileError(
        `${where}: "continuation" is empty; there is nothing to score or train on (give at least one character)`,
      );
    }
    out.push({ context: r.context as string, continuation: r.continuation as string });
  }
  if (out.length === 0) throw new DataFileError(`${file}: no examples (the file is empty)`);
  return out;
}
