// Smoke test of the bench plumbing (never a timed test): the tiny cases run in child processes, bench.json and
// bench.md are written, the FLOP count in a row is flops.ts's, and the PyTorch peer (when /usr/bin/python3 has
// torch) reports its thread setup. Run: npx tsx --test src/bench/suite.e2e.test.ts
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LORA_TARGETS } from "../config.ts";
import { benchCases } from "./cases.ts";
import { loraStepFlops } from "./flops.ts";
import { modelConfigOf } from "./measure.ts";
import { peerUnavailable, runPeer } from "./peer.ts";
import { isOutOfMemory } from "./run-case.ts";
import { runBench, selectCases } from "./suite.ts";
import type { BenchRow } from "./types.ts";

const shared = path.resolve(import.meta.dirname, "../../../shared");

test("bench --only tiny tiny-eval: child processes, bench.json + bench.md", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-smoke-"));
  try {
    const out = await runBench({
      only: ["tiny", "tiny-eval"],
      steps: 1,
      backend: "wasm",
      resultsDir: dir,
      peer: false,
      log: () => {},
    });
    const rows = JSON.parse(fs.readFileSync(out.jsonFile, "utf8")) as BenchRow[];
    assert.deepEqual(
      rows.map((r) => [r.name, r.status]),
      [
        ["tiny", "ok"],
        ["tiny-eval", "ok"],
      ],
    );
    const [train, gen] = rows as [BenchRow, BenchRow];
    assert.match(train.backend, /^wasm \(simd(, native matmul \([^)]+\))?\)$/); // native matmul: src/native-matmul.ts
    assert.equal(train.tokensPerStep, 2 * 16);
    const tiny = benchCases(shared).find((c) => c.name === "tiny")!;
    assert.equal(
      train.gflopPerStep,
      loraStepFlops(modelConfigOf(tiny), { r: 8, targets: LORA_TARGETS }, 2, 16).step / 1e9,
    );
    assert.ok(train.stepSeconds! > 0 && train.oursTokensPerSec! > 0 && train.peakRssMB > 0);
    assert.ok(
      Number.isFinite(train.firstLoss) && Math.abs(train.firstLoss! - Math.log(64)) < 0.5,
      `random-init loss ≈ ln V, got ${train.firstLoss}`,
    );
    assert.equal(train.ratio, undefined); // no peer asked for
    assert.equal(gen.metrics?.sameTokens, true); // KV-cache generation equals recomputing the prefix
    const md = fs.readFileSync(out.reportFile, "utf8");
    assert.match(md, /\| tiny \| — \(skipped\) \| ok \| 2×16 \|/); // ratio column first
    assert.ok(
      train.launchesPerStep! > 0 && train.matmulSeconds! >= 0 && train.outsideMatmulSeconds! > 0,
      "kernel census of one step",
    );
    assert.match(md, /tiny-eval: greedy 8 new tokens/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("case selection: hidden cases only by name, unknown names fail with the list", () => {
  const all = benchCases(shared);
  assert.ok(!selectCases(all).some((c) => c.name === "tiny"));
  assert.ok(selectCases(all).some((c) => c.name === "llama-4x256"));
  assert.throws(() => selectCases(all, ["nope"]), /unknown case\(s\) nope; cases: tiny/);
});

test("out-of-memory errors are recognised (the batch ladder depends on it)", () => {
  assert.ok(isOutOfMemory(new RangeError("Array buffer allocation failed")));
  assert.ok(isOutOfMemory("RuntimeError: Aborted(Cannot enlarge memory arrays to size 4294967296 bytes)"));
  assert.ok(!isOutOfMemory(new Error("tensor shape mismatch")));
});

test("PyTorch peer: OPENBLAS_NUM_THREADS=1, torch threads 2, OpenBLAS detected", (t) => {
  const why = peerUnavailable();
  if (why) return t.skip(why);
  const tiny = benchCases(shared).find((c) => c.name === "tiny")!;
  const r = runPeer(tiny, modelConfigOf(tiny), 2, 1);
  assert.ok(r.ok, r.ok ? "" : r.reason);
  assert.equal(r.result.threads.torch, 2);
  assert.equal(r.result.threads.OPENBLAS_NUM_THREADS, "1");
  assert.notEqual(r.result.blas, "reference", "torch runs on the reference BLAS: install libopenblas0-pthread");
  assert.ok(r.result.stepSeconds > 0 && Math.abs((r.result.firstLoss ?? 0) - Math.log(64)) < 0.5);
});
