// "random:…" models: a spec's weights are a function of the spec alone, whether drawn anew or reused from the
// in-process cache of the last few models (a sweep's cells of one width share them): the same bits either way, a
// cache entry no other load can alter, and another seed gives other weights.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { loadRandomModel } from "./random-model.ts";

const SPEC = "random:d=32,L=1,heads=2,kv=1";

for (const backend of ["cpu", "wasm"] as const) {
  test(`a random model's weights are the same drawn anew or reused, and loads do not share tensors (${backend})`, async () => {
    const b = await initBackend(backend);
    const weightsOf = (spec: string) => {
      const m = loadRandomModel(spec, b);
      const h = tf.tidy(() => Array.from(m.decoder.hidden(tf.tensor2d([[1, 2, 3, 4]], undefined, "int32")).dataSync()));
      const w = Array.from(m.decoder.lmHead.weight.dataSync());
      m.decoder.dispose();
      return { h, w };
    };
    const before = tf.memory().numTensors;
    const first = weightsOf(SPEC);
    const again = weightsOf(SPEC); // reused
    for (let s = 1; s <= 5; s++) weightsOf(`${SPEC},seed=${s}`); // pushes SPEC out of the cache
    const redrawn = weightsOf(SPEC);
    assert.deepEqual(again, first, "reused = first draw");
    assert.deepEqual(redrawn, first, "drawn again = first draw");
    assert.notDeepEqual(weightsOf(`${SPEC},seed=1`).w, first.w, "another seed, other weights");
    assert.equal(tf.memory().numTensors, before, "every load's tensors freed with its decoder");
  });
}
