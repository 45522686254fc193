// Checkpoint faults: a truncated optimizer.safetensors (or state.json) no longer blocks its cell — the broken folder
// is moved aside, the previous good checkpoint is used (or the cell restarts) and the log says so; the result equals
// a straight run bit for bit. A resumed run leaks no tensors. Saves leave no temp folders behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../backend.ts";
import { resolveRunConfig, type DeepPartial, type RunConfig } from "../config.ts";
import { fileError, removeTempFiles, writeFileAtomic, type RunSummary } from "../results.ts";
import { configHash } from "../sweep.ts";
import { runTraining } from "./recipe.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "checkpoint-test-"));
const TINY: DeepPartial<RunConfig> = {
  model: "random:d=32,L=1,heads=2,kv=1",
  task: "synthetic",
  backend: "wasm",
  dataDir: path.join(tmp, "datasets"),
  lora: { r: 4, alpha: 8, targets: ["q_proj", "v_proj"] },
  optimizer: { name: "stable-lora", lr: 1e-2, lambda: 0.3 },
  train: { steps: 9, batchSize: 4, maxSeqLen: 16, checkpointEvery: 3 },
  eval: { limit: 10, batchSize: 10 },
  stability: { probeEvery: 0, probeBatchSize: 4 },
};

function adapterBytes(dir: string): Buffer {
  return fs.readFileSync(path.join(dir, "adapter", "adapter_model.safetensors"));
}

async function interruptedAt(cfg: RunConfig, dir: string, step: number): Promise<void> {
  const ctl = new AbortController();
  const r = await runTraining(cfg, {
    experiment: "t",
    runId: "r",
    configHash: configHash(cfg),
    dir,
    signal: ctl.signal,
    onStep: (p) => void (p.step === step && ctl.abort()),
  });
  assert.equal(r.status, "interrupted");
}

for (const [what, file, corrupt] of [
  [
    "a truncated optimizer.safetensors",
    "optimizer.safetensors",
    (f: string) => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2)),
  ],
  ["a state.json that is not JSON", "state.json", (f: string) => fs.writeFileSync(f, "{")],
] as const) {
  test(`${what}: falls back to the previous checkpoint, says so, and ends bit-identical`, async () => {
    await initBackend("wasm");
    const cfg = resolveRunConfig(TINY);
    const hash = configHash(cfg);
    const straight = path.join(tmp, file, "straight");
    assert.equal(
      (await runTraining(cfg, { experiment: "t", runId: "r", configHash: hash, dir: straight })).status,
      "success",
    );

    const dir = path.join(tmp, file, "broken");
    await interruptedAt(cfg, dir, 7); // checkpoints at 3 and 6, then 7 on the interrupt: checkpoint = 7, prev = 6
    assert.equal(
      (JSON.parse(fs.readFileSync(path.join(dir, "checkpoint.prev", "state.json"), "utf8")) as { step: number }).step,
      6,
    );
    corrupt(path.join(dir, "checkpoint", file));
    const logs: string[] = [];
    const r = await runTraining(cfg, { experiment: "t", runId: "r", configHash: hash, dir, log: (m) => logs.push(m) });
    assert.equal(r.status, "success", r.error);
    assert.equal(r.leakedTensors, 0, "a resumed run leaks no tensors");
    assert.ok(
      logs.some((l) =>
        /checkpoint .*checkpoint is corrupt .*moved it to checkpoint\.broken-.* trying the previous checkpoint/.test(l),
      ),
      logs.join("\n"),
    );
    assert.ok(logs.includes("resuming from step 6"), logs.join("\n"));
    assert.ok(
      fs.readdirSync(dir).some((f) => f.startsWith("checkpoint.broken-")),
      "the broken folder is kept for inspection",
    );
    assert.ok(adapterBytes(dir).equals(adapterBytes(straight)), "same adapter as the straight run");
    assert.deepEqual(
      r.final,
      (JSON.parse(fs.readFileSync(path.join(straight, "summary.json"), "utf8")) as RunSummary).final,
    );
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => /\.tmp-|\.trash-/.test(f)),
      [],
      "no temp folders left",
    );
  });
}

test("both checkpoints corrupt: the cell restarts from step 0 and says so", async () => {
  await initBackend("wasm");
  const cfg = resolveRunConfig(TINY);
  const dir = path.join(tmp, "both");
  await interruptedAt(cfg, dir, 7);
  for (const d of ["checkpoint", "checkpoint.prev"]) fs.writeFileSync(path.join(dir, d, "lora.safetensors"), "");
  const logs: string[] = [];
  const r = await runTraining(cfg, {
    experiment: "t",
    runId: "r",
    configHash: configHash(cfg),
    dir,
    log: (m) => logs.push(m),
  });
  assert.equal(r.status, "success", r.error);
  assert.equal(logs.filter((l) => l.includes("is corrupt")).length, 2, logs.join("\n"));
  assert.ok(!logs.some((l) => l.startsWith("resuming")), "restarted");
});

test("temp files a killed writer left behind are removed (and nothing else)", () => {
  const dir = path.join(tmp, "temps");
  fs.mkdirSync(path.join(dir, "checkpoint.tmp-vm-12-ab12cd34"), { recursive: true });
  fs.writeFileSync(path.join(dir, "checkpoint.tmp-vm-12-ab12cd34", "lora.safetensors"), "");
  fs.writeFileSync(path.join(dir, "summary.json.tmp-vm-12-0badf00d"), "");
  fs.mkdirSync(path.join(dir, "adapter"));
  fs.writeFileSync(path.join(dir, "adapter", "adapter_model.safetensors.tmp-vm-9-01234567"), "");
  fs.writeFileSync(path.join(dir, "metrics.jsonl"), "{}\n");
  assert.deepEqual(removeTempFiles(dir).sort(), [
    "adapter/adapter_model.safetensors.tmp-vm-9-01234567",
    "checkpoint.tmp-vm-12-ab12cd34",
    "summary.json.tmp-vm-12-0badf00d",
  ]);
  assert.deepEqual(fs.readdirSync(dir, { recursive: true }).map(String).sort(), ["adapter", "metrics.jsonl"]);
});

test("a full disk is reported with the file's path and what to do", () => {
  const e = fileError(
    "/r/run/summary.json",
    Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }),
  );
  assert.match(
    e.message,
    /^write \/r\/run\/summary\.json: ENOSPC .*the disk is full: free space and rerun; finished results are intact/,
  );
  assert.equal((e as NodeJS.ErrnoException).code, "ENOSPC");
});

test("a failed atomic write names the file and leaves no temp file", () => {
  const dir = path.join(tmp, "atomic");
  const target = path.join(dir, "summary.json");
  fs.mkdirSync(target, { recursive: true }); // a folder where the file should go: the rename fails
  assert.throws(
    () => writeFileAtomic(target, "{}"),
    (e: Error) => e.message.includes(target),
  );
  assert.deepEqual(fs.readdirSync(dir), ["summary.json"], "the temp file was removed");
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
