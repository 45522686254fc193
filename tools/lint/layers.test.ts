import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { checkLayers, importsOf, layerOf } from "./layers.ts";

const repoRoot = path.resolve(import.meta.dirname, "..", "..");

test("layerOf: folders by prefix, top-level files exactly, unknown paths -1", () => {
  assert.ok(layerOf("src/util/rng.ts") < layerOf("src/models/decoder.ts"));
  assert.ok(layerOf("src/models/decoder.ts") < layerOf("src/lora/lora.ts"));
  assert.ok(layerOf("src/lora/lora.ts") < layerOf("src/optim/adamw.ts"));
  assert.ok(layerOf("src/eval/evaluate.ts") < layerOf("src/train/recipe.ts"));
  assert.ok(layerOf("src/cli/list.ts") < layerOf("experiments/run.ts"));
  assert.equal(layerOf("src/newfolder/x.ts"), -1);
  assert.equal(layerOf("src/config.tsx"), -1);
});

test("importsOf finds static, re-export and dynamic relative imports, not packages", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "layers-"));
  const f = path.join(dir, "a.ts");
  fs.writeFileSync(
    f,
    `import { x } from "./x.ts";\nimport type { Y } from "../y.ts";\nexport { z } from "./z.ts";\n` +
      `import * as tf from "@tensorflow/tfjs";\nconst m = await import("../../m.ts");\n`,
  );
  try {
    assert.deepEqual(importsOf(f), ["./x.ts", "../y.ts", "./z.ts", "../../m.ts"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("an upward import and a file outside every layer are reported", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "layers-root-"));
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  try {
    write("src/models/m.ts", `import { t } from "../train/t.ts";\n`);
    write("src/train/t.ts", `import { m } from "../models/m.ts";\n`);
    write("src/elsewhere/e.ts", ``);
    const v = checkLayers(root, ["src"]);
    assert.deepEqual(
      v.map((x) => [x.from, x.to]),
      [
        ["src/elsewhere/e.ts", ""],
        ["src/models/m.ts", "src/train/t.ts"],
      ],
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("this repository's src/ and experiments/ import only downward", () => {
  const v = checkLayers(repoRoot);
  assert.deepEqual(
    v.map((x) => `${x.from}${x.to ? ` → ${x.to}` : ""}: ${x.reason}`),
    [],
  );
});
