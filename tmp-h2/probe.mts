import * as tf from "@tensorflow/tfjs";
import * as fs from "node:fs";
import { initBackend } from "/work/main/src/backend.ts";
import { loadDecoder } from "/work/main/src/models/load.ts";
import { readModelConfig } from "/work/main/src/models/model-config.ts";
await initBackend("wasm");
for (const name of ["qwen2-tiny", "llama-tiny"]) {
  const dir = `/work/main/src/models/fixtures/${name}`;
  const g = JSON.parse(fs.readFileSync(`${dir}/golden.json`, "utf8"));
  for (const variant of ["as-is", "no-rope-scaling"]) {
    const cfg = readModelConfig(dir);
    const c = variant === "as-is" ? cfg : { ...cfg, ropeScaling: null };
    const d = loadDecoder(dir, c);
    const got = d.forward(tf.tensor2d(g.logits.ids, undefined, "int32")).dataSync();
    let w = 0, m = 0;
    g.logits.values.forEach((v: number, i: number) => { w = Math.max(w, Math.abs(got[i]! - v)); m = Math.max(m, Math.abs(v)); });
    console.log(name, variant, "rel", (w / m).toExponential(2));
    d.dispose();
  }
}
