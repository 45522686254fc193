import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { longFunctions, sourceFiles } from "./function-length.ts";

const body = (n: number) => Array.from({ length: n }, (_, i) => `  x += ${i};`).join("\n");

function withFile(text: string, fn: (file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fnlen-"));
  const file = path.join(dir, "a.ts");
  fs.writeFileSync(file, text);
  try {
    fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("a function over the limit is listed with its own length; one under it is not", () => {
  withFile(`export function big() {\n  let x = 0;\n${body(20)}\n}\nfunction small() {\n${body(3)}\n}\n`, (f) => {
    const found = longFunctions(f, 10);
    assert.deepEqual(
      found.map((x) => [x.name, x.line, x.ownLines]),
      [["big", 1, 23]],
    );
  });
});

test("named nested functions do not count towards their parent; inline callbacks do", () => {
  const named = `function outer() {\n  const inner = () => {\n${body(20)}\n  };\n  return inner;\n}\n`;
  withFile(named, (f) =>
    assert.deepEqual(
      longFunctions(f, 10).map((x) => x.name),
      ["inner"],
    ),
  );
  const inline = `function outer(xs: number[]) {\n  let x = 0;\n  xs.forEach(() => {\n${body(20)}\n  });\n}\n`;
  withFile(inline, (f) => {
    const outer = longFunctions(f, 10).find((x) => x.name === "outer");
    assert.equal(outer?.ownLines, 25);
  });
});

test("a comment with 'long:' and a reason above the function accepts it", () => {
  withFile(`// long: one table literal\nexport const big = () => {\n  let x = 0;\n${body(20)}\n};\n`, (f) => {
    assert.deepEqual(longFunctions(f, 10), []);
  });
  withFile(`// long:\nexport const big = () => {\n  let x = 0;\n${body(20)}\n};\n`, (f) => {
    assert.equal(longFunctions(f, 10).length, 1, "a bare 'long:' without a reason does not count");
  });
});

test("sourceFiles skips tests", () => {
  const files = sourceFiles(path.join(import.meta.dirname));
  assert.ok(files.some((f) => f.endsWith("function-length.ts")));
  assert.ok(!files.some((f) => f.endsWith(".test.ts")));
});

test("no function in src/ is over 80 own lines without a stated reason", () => {
  const root = path.resolve(import.meta.dirname, "..", "..");
  const found = sourceFiles(path.join(root, "src")).flatMap((f) => longFunctions(f, 80));
  assert.deepEqual(
    found.map((f) => `${path.relative(root, f.file)}:${f.line} ${f.name} (${f.ownLines} lines)`),
    [],
  );
});
