// An adapter's LoRA configuration: what `train --init-adapter` adopts (r, alpha, targets in canonical order, dropout,
// rsLoRA; PEFT's suffix-style target names), the error for a --set that contradicts it, and the base-model warning
// of `eval`/`score --adapter` (hub id, local folder and HF-cache paths of the same model agree).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { adapterLoraConfig, adoptAdapterLora, baseModelMismatch } from "./adapter-config.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "adapter-config-test-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;

/** An adapter folder holding only adapter_config.json (these functions never read the tensors). */
function adapterDir(over: Record<string, unknown> = {}): string {
  const dir = path.join(tmp, `a${counter++}`);
  fs.mkdirSync(dir);
  const config = {
    peft_type: "LORA",
    r: 4,
    lora_alpha: 8,
    lora_dropout: 0.05,
    use_rslora: true,
    target_modules: ["v_proj", "model.layers.0.mlp.down_proj", "self_attn.q_proj"],
    base_model_name_or_path: "Qwen/Qwen2-0.5B",
    ...over,
  };
  fs.writeFileSync(path.join(dir, "adapter_config.json"), JSON.stringify(config));
  return dir;
}

test("adopts r, alpha, dropout, rsLoRA and the targets (suffix names, canonical order) from adapter_config.json", () => {
  const dir = adapterDir();
  const want = { r: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"], dropout: 0.05, rslora: true };
  assert.deepEqual(adapterLoraConfig(dir), want);
  assert.deepEqual(adoptAdapterLora(dir, undefined), want);
  // Explicit values that agree (targets in any order) are fine.
  assert.deepEqual(
    adoptAdapterLora(dir, { r: 4, alpha: 8, targets: ["down_proj", "v_proj", "q_proj"], rslora: true }),
    want,
  );
  // PEFT's defaults for keys a hand-written config leaves out: lora_alpha 8, dropout 0, rsLoRA off.
  const minimal = adapterDir({
    lora_alpha: undefined,
    lora_dropout: undefined,
    use_rslora: undefined,
    target_modules: ["q_proj"],
  });
  assert.deepEqual(adapterLoraConfig(minimal), { r: 4, alpha: 8, targets: ["q_proj"], dropout: 0, rslora: false });
});

test("an explicit value that contradicts the adapter is an error naming both", () => {
  const dir = adapterDir();
  assert.throws(
    () => adoptAdapterLora(dir, { r: 8 }),
    /lora\.r=8 but the adapter has r = 4 \(.*adapter_config\.json\).*drop the contradicting --set/,
  );
  assert.throws(
    () => adoptAdapterLora(dir, { alpha: 16, dropout: 0 }),
    /lora\.alpha=16 but the adapter has lora_alpha = 8; lora\.dropout=0 but the adapter has lora_dropout = 0\.05/,
  );
  assert.throws(
    () => adoptAdapterLora(dir, { targets: ["q_proj", "v_proj"] }),
    /lora\.targets=\["q_proj","v_proj"\] but the adapter has target_modules = \["q_proj","v_proj","down_proj"\]/,
  );
  assert.throws(
    () => adoptAdapterLora(dir, { rslora: false }),
    /lora\.rslora=false but the adapter has use_rslora = true/,
  );
});

test("target modules this harness cannot adapt, and a missing adapter, are errors", () => {
  assert.throws(
    () => adapterLoraConfig(adapterDir({ target_modules: ["q_proj", "c_attn"] })),
    /target_modules has "c_attn", which is not one of the layers this harness adapts \(q_proj, k_proj/,
  );
  assert.throws(() => adapterLoraConfig(adapterDir({ target_modules: [] })), /target_modules is empty/);
  assert.throws(() => adapterLoraConfig(path.join(tmp, "nope")), /adapter folder .*nope not found/);
});

test("base model: the same model as hub id, local folder or HF-cache snapshot agrees; another model warns", () => {
  const dir = adapterDir({ base_model_name_or_path: "Qwen/Qwen2-0.5B" });
  assert.equal(baseModelMismatch(dir, "Qwen/Qwen2-0.5B"), null);
  assert.equal(baseModelMismatch(dir, "/data/models/qwen2-0.5b/"), null);
  assert.equal(
    baseModelMismatch(dir, "/root/.cache/huggingface/hub/models--Qwen--Qwen2-0.5B/snapshots/0123abcd"),
    null,
  );
  assert.match(
    baseModelMismatch(dir, "meta-llama/Llama-3.2-1B") ?? "",
    /warning: adapter .* was trained on "Qwen\/Qwen2-0\.5B" \(base_model_name_or_path in adapter_config\.json\), but is applied to "meta-llama\/Llama-3\.2-1B"/,
  );
  assert.equal(baseModelMismatch(adapterDir({ base_model_name_or_path: null }), "anything"), null);
});
