import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";

test("auto picks a working backend and records why others were skipped", async () => {
  const info = await initBackend("auto");
  assert.equal(tf.getBackend(), info.name);
  assert.ok(["tensorflow", "wasm", "cpu"].includes(info.name));
  if (info.name !== "tensorflow") assert.ok(info.skipped.some((s) => s.startsWith("tensorflow")));
});

test("a named backend that cannot load fails with a clear message", async (t) => {
  let hasNode = true;
  try {
    await import("@tensorflow/tfjs-node" as string);
  } catch {
    hasNode = false;
  }
  if (hasNode) return t.skip("tfjs-node is installed here");
  await assert.rejects(initBackend("tensorflow"), /backend "tensorflow" is not available.*tfjs-node/);
});

test("cpu and wasm can both be selected", async () => {
  assert.equal((await initBackend("cpu")).name, "cpu");
  assert.equal((await initBackend("wasm")).name, "wasm");
});
