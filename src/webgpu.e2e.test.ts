// Choosing the webgpu backend, with SwiftShader (Debian chromium's CPU Vulkan) as the only adapter: `auto` never picks
// it, an explicit --backend webgpu does and says which adapter; no adapter at all, a --device out of range and a
// model tensor larger than the adapter's buffer limit are clear errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";
import { loadRandomModel } from "./models/random-model.ts";
import { skipOrFail, useSwiftShaderIcd, useWebgpu } from "./webgpu-testing.ts";
import { enumerateAdapters } from "./webgpu.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
useSwiftShaderIcd();
const adapters = await enumerateAdapters();
const reason =
  typeof adapters === "string"
    ? adapters
    : adapters.length === 0
      ? "no Vulkan adapter (not even SwiftShader) here"
      : undefined;
const skip = reason === undefined ? undefined : skipOrFail(reason);

test("auto never picks a software adapter: with only SwiftShader present it chooses wasm", { skip }, async () => {
  const info = await initBackend("auto");
  assert.notEqual(info.name, "webgpu");
  if (info.name !== "tensorflow") assert.equal(info.name, "wasm");
  assert.ok(
    info.skipped.some((s) => /^webgpu: only a software adapter \(.*swiftshader/i.test(s)),
    info.skipped.join("; "),
  );
});

test("--backend webgpu uses the software adapter and says which, with its buffer limits", { skip }, async () => {
  assert.equal(await useWebgpu(), undefined);
  const info = await initBackend("webgpu");
  assert.equal(tf.getBackend(), "webgpu");
  assert.ok(info.gpu?.software, "SwiftShader is reported as software");
  assert.match(info.detail, /swiftshader/i);
  assert.ok(info.gpu!.maxBufferSize >= 2 ** 28 && info.gpu!.maxStorageBufferBindingSize >= 2 ** 27);
});

test(
  "a model tensor larger than the adapter's buffer limit is a clear error before anything is allocated",
  { skip },
  async () => {
    const info = await initBackend("webgpu");
    const before = tf.memory().numTensors;
    // embed_tokens [200000, 2048] fp32 = 1.5 GiB > SwiftShader's 1 GiB limit.
    assert.throws(
      () => loadRandomModel("random:d=2048,L=1,heads=16,kv=8,vocab=200000", info),
      /tensor "model\.embed_tokens\.weight" \[200000, 2048\] takes 1563 MiB .*1024 MiB = min\(maxBufferSize, maxStorageBufferBindingSize\)/,
    );
    assert.equal(tf.memory().numTensors, before);
  },
);

function runCli(args: string[], env: NodeJS.ProcessEnv): { status: number | null; err: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "experiments/run.ts", ...args], {
    cwd: REPO,
    env,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, err: r.stderr };
}

test("--backend webgpu with no adapter at all: exit ≠ 0, naming the Vulkan ICD and VK_ICD_FILENAMES", async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "webgpu-none-"));
  try {
    const env = { ...process.env, VK_ICD_FILENAMES: path.join(out, "no-such-icd.json") };
    const r = runCli(
      [
        "train",
        "--backend",
        "webgpu",
        "--model",
        "random:d=16,L=1",
        "--task",
        "synthetic",
        "--steps",
        "1",
        "--out",
        path.join(out, "run"),
      ],
      env,
    );
    assert.notEqual(r.status, 0);
    assert.match(r.err, /backend "webgpu" is not available.*no adapter.*Vulkan ICD.*VK_ICD_FILENAMES/s);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test("--device 0 selects the adapter; out of range names the adapters there are", { skip }, async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "webgpu-device-"));
  try {
    const r = runCli(
      [
        "train",
        "--backend",
        "webgpu",
        "--device",
        "3",
        "--model",
        "random:d=16,L=1",
        "--task",
        "synthetic",
        "--steps",
        "1",
        "--out",
        path.join(out, "run"),
      ],
      process.env,
    );
    assert.notEqual(r.status, 0);
    assert.match(r.err, /--device 3: there are 1 WebGPU adapters \(0: .*\(vulkan\)\)/);
    const ok = spawnSync(process.execPath, ["--import", "tsx", "experiments/run.ts", "list", "--device", "0"], {
      cwd: REPO,
      encoding: "utf8",
    });
    assert.match(ok.stdout, /webgpu +available .*swiftshader/i, "--device 0 selects the one adapter");
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
