// Lists functions in src/ whose own body (named nested functions not counted; inline callbacks are) is longer than a limit, so a long function
// is a decision someone wrote down, not an accident. A function may be longer when a comment directly above it
// contains "long:" followed by the reason. Run: `npx tsx tools/lint/function-length.ts [--max 80] [dirs…]`.
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

export interface LongFunction {
  readonly file: string;
  readonly line: number;
  readonly name: string;
  /** Lines of the function minus the lines of the named functions nested in it. */
  readonly ownLines: number;
}

const isFunctionLike = (n: ts.Node): n is ts.FunctionLikeDeclaration =>
  ts.isFunctionDeclaration(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isArrowFunction(n) ||
  ts.isFunctionExpression(n) ||
  ts.isGetAccessorDeclaration(n) ||
  ts.isSetAccessorDeclaration(n) ||
  ts.isConstructorDeclaration(n);

/** A unit a reader meets by name (declaration, method, `const f = …`); inline callbacks count towards their caller. */
function isNamed(fn: ts.FunctionLikeDeclaration): boolean {
  if (!ts.isArrowFunction(fn) && !ts.isFunctionExpression(fn)) return true;
  const p = fn.parent;
  return ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p);
}

function nameOf(fn: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (fn.name) return fn.name.getText(sf);
  const p = fn.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))
    return p.name.getText(sf);
  return "(anonymous)";
}

/** The statement or declaration whose leading comments document fn (a `const f = () => …` is documented above `const`). */
function documentedNode(fn: ts.Node): ts.Node {
  let n: ts.Node = fn;
  while (
    n.parent &&
    (ts.isVariableDeclaration(n.parent) ||
      ts.isVariableDeclarationList(n.parent) ||
      ts.isVariableStatement(n.parent) ||
      ts.isPropertyAssignment(n.parent) ||
      ts.isExportAssignment(n.parent))
  ) {
    n = n.parent;
  }
  return n;
}

function hasReason(fn: ts.Node, sf: ts.SourceFile): boolean {
  const node = documentedNode(fn);
  const ranges = ts.getLeadingCommentRanges(sf.text, node.getFullStart()) ?? [];
  return ranges.some((r) => /\blong:\s*\S/.test(sf.text.slice(r.pos, r.end)));
}

export function longFunctions(file: string, max: number): LongFunction[] {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line;
  const span = (n: ts.Node) => lineOf(n.getEnd()) - lineOf(n.getStart(sf)) + 1;
  const out: LongFunction[] = [];
  const visit = (n: ts.Node): void => {
    if (isFunctionLike(n) && n.body) {
      let nested = 0;
      const inner = (m: ts.Node): void => {
        if (isFunctionLike(m) && m.body && isNamed(m)) nested += span(m);
        else ts.forEachChild(m, inner);
      };
      ts.forEachChild(n.body, inner);
      const ownLines = span(n) - nested;
      if (ownLines > max && !hasReason(n, sf)) {
        out.push({ file, line: lineOf(n.getStart(sf)) + 1, name: nameOf(n, sf), ownLines });
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

export function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.split(path.sep).includes("node_modules"))
    .map((f) => path.join(dir, f))
    .sort();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--max");
  const max = i >= 0 ? Number(args.splice(i, 2)[1]) : 80;
  const dirs = args.length ? args : ["src"];
  const found = dirs.flatMap((d) => sourceFiles(d).flatMap((f) => longFunctions(f, max)));
  for (const f of found) console.log(`${f.file}:${f.line} ${f.name}: ${f.ownLines} lines (limit ${max})`);
  console.log(found.length ? `${found.length} function(s) over ${max} lines without a stated reason` : "ok");
  process.exitCode = found.length ? 1 : 0;
}
