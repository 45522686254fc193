// The import graph reads bottom-up: a module may import its own layer or lower ones, never a higher one.
// util → engine (backends, hub) → config/results → models → lora → optim → tasks/stability → eval → train
// → sweep/report/bench → cli → experiments. Tests may import anything. Every source file must belong to a layer,
// so a new folder is placed on purpose. Run: `npx tsx tools/lint/layers.ts`.
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { sourceFiles } from "./function-length.ts";

/** Layers from the bottom; each entry is a path prefix relative to the repository root. */
export const LAYERS: readonly (readonly string[])[] = [
  ["src/util/", "src/testing/"],
  [
    "src/backend.ts",
    "src/webgpu.ts",
    "src/webgpu-testing.ts",
    "src/native-matmul.ts",
    "src/wasm-fused.ts",
    "src/tape-release.ts",
    "src/wasm-zero-copy.ts",
    "src/hub.ts",
    "src/hub-fetch.ts",
  ],
  ["src/config.ts", "src/results.ts"],
  ["src/models/"],
  ["src/lora/"],
  ["src/optim/"],
  ["src/tasks/", "src/stability/"],
  ["src/eval/"],
  ["src/train/"],
  ["src/sweep.ts", "src/sweep/", "src/report/", "src/bench/"],
  ["src/cli/"],
  ["experiments/"],
];

export function layerOf(rel: string): number {
  const i = LAYERS.findIndex((prefixes) => prefixes.some((p) => (p.endsWith("/") ? rel.startsWith(p) : rel === p)));
  return i;
}

export interface Violation {
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

/** Relative specifiers of every static import/export and dynamic import() in a file. */
export function importsOf(file: string): string[] {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (
      (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
      n.moduleSpecifier &&
      ts.isStringLiteral(n.moduleSpecifier)
    ) {
      out.push(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = n.arguments[0];
      if (a && ts.isStringLiteralLike(a)) out.push(a.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out.filter((s) => s.startsWith("."));
}

export function checkLayers(root: string, dirs: readonly string[] = ["src", "experiments"]): Violation[] {
  const out: Violation[] = [];
  const rel = (f: string) => path.relative(root, f).split(path.sep).join("/");
  for (const file of dirs.flatMap((d) => sourceFiles(path.join(root, d)))) {
    const from = rel(file);
    const lf = layerOf(from);
    if (lf < 0) {
      out.push({ from, to: "", reason: "belongs to no layer: add its folder to LAYERS in tools/lint/layers.ts" });
      continue;
    }
    for (const spec of importsOf(file)) {
      const to = rel(path.resolve(path.dirname(file), spec));
      const lt = layerOf(to);
      if (lt > lf) out.push({ from, to, reason: `imports upward (layer ${lf} → ${lt})` });
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const found = checkLayers(process.cwd());
  for (const v of found) console.log(`${v.from}${v.to ? ` → ${v.to}` : ""}: ${v.reason}`);
  console.log(found.length ? `${found.length} layering violation(s)` : "ok");
  process.exitCode = found.length ? 1 : 0;
}
