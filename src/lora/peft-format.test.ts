// Tests for PEFT adapter folder I/O: bit-exact write → read round trip, the exact file layout PEFT writes
// (sorted adapter_config.json with LoraConfig's fields, `base_model.model.<module>.lora_{A,B}.weight` F32 keys),
// reading PEFT's in-memory `.default` key names and BF16 weights, and each malformed-adapter error.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Rng } from "../util/rng.ts";
import { openCheckpoint, writeSafetensors } from "../models/safetensors.ts";
import { readPeftAdapter, writePeftAdapter, type AdapterTensors, type PeftAdapterConfig } from "./peft-format.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "peft-format-test-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const fresh = () => path.join(tmp, `a${counter++}`);

const cfg: PeftAdapterConfig = {
  r: 4,
  lora_alpha: 8,
  lora_dropout: 0.05,
  target_modules: ["q_proj", "v_proj"],
  use_rslora: false,
  base_model_name_or_path: "Qwen/Qwen2-0.5B",
};

function randomTensors(rng: Rng, layers: number, hidden: number, kv: number, r: number): AdapterTensors[] {
  const out: AdapterTensors[] = [];
  const fill = (n: number) => Float32Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * 1e-2);
  for (let l = 0; l < layers; l++) {
    for (const [proj, outDim] of [
      ["q_proj", hidden],
      ["v_proj", kv],
    ] as const) {
      out.push({
        module: `model.layers.${l}.self_attn.${proj}`,
        A: { shape: [r, hidden], data: fill(r * hidden) },
        B: { shape: [outDim, r], data: fill(outDim * r) },
      });
    }
  }
  return out;
}

test("write → read is bit-exact and the folder is laid out as PEFT writes it", () => {
  const dir = fresh();
  const tensors = randomTensors(new Rng(7), 11, 16, 8, 4); // 11 layers: natural order puts 2 before 10
  tensors[0]!.A.data[0] = -0; // sign of zero and a subnormal must survive
  tensors[0]!.B.data[1] = 1e-40;
  writePeftAdapter(dir, cfg, tensors);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["adapter_config.json", "adapter_model.safetensors"]);

  const written = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
  assert.deepEqual(Object.keys(written), Object.keys(written).sort());
  for (const [k, v] of Object.entries({
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    r: 4,
    lora_alpha: 8,
    lora_dropout: 0.05,
    bias: "none",
    use_rslora: false,
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    use_dora: false,
    modules_to_save: null,
    rank_pattern: {},
    alpha_pattern: {},
    base_model_name_or_path: "Qwen/Qwen2-0.5B",
    target_modules: ["q_proj", "v_proj"],
  })) {
    assert.deepEqual(written[k], v, k);
  }

  const ck = openCheckpoint(path.join(dir, "adapter_model.safetensors"));
  assert.deepEqual(ck.metadata, { format: "pt" });
  assert.equal(ck.entries.size, 44);
  const a = ck.entries.get("base_model.model.model.layers.3.self_attn.v_proj.lora_A.weight")!;
  const b = ck.entries.get("base_model.model.model.layers.3.self_attn.v_proj.lora_B.weight")!;
  assert.deepEqual([a.dtype, a.shape, b.dtype, b.shape], ["F32", [4, 16], "F32", [8, 4]]);
  ck.close();

  const back = readPeftAdapter(dir);
  assert.deepEqual(back.config.target_modules, cfg.target_modules);
  assert.equal(back.config.r, 4);
  assert.equal(back.config.lora_alpha, 8);
  assert.equal(back.config.use_rslora, false);
  assert.equal(back.tensors.length, tensors.length);
  const byModule = new Map(back.tensors.map((t) => [t.module, t]));
  for (const t of tensors) {
    const u = byModule.get(t.module)!;
    assert.deepEqual(u.A.shape, t.A.shape);
    assert.deepEqual(u.B.shape, t.B.shape);
    assert.deepEqual(new Uint32Array(u.A.data.buffer), new Uint32Array(t.A.data.buffer), t.module);
    assert.deepEqual(new Uint32Array(u.B.data.buffer), new Uint32Array(t.B.data.buffer), t.module);
  }
  assert.deepEqual(
    back.tensors.slice(0, 6).map((t) => t.module),
    [
      "model.layers.0.self_attn.q_proj",
      "model.layers.0.self_attn.v_proj",
      "model.layers.1.self_attn.q_proj",
      "model.layers.1.self_attn.v_proj",
      "model.layers.2.self_attn.q_proj",
      "model.layers.2.self_attn.v_proj",
    ],
  );
});

function writeRaw(
  dir: string,
  config: Record<string, unknown>,
  names: [string, number[]][],
  dtype: "F32" | "BF16" = "F32",
) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "adapter_config.json"),
    JSON.stringify({ peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: ["q_proj"], ...config }),
  );
  writeSafetensors(
    path.join(dir, "adapter_model.safetensors"),
    names.map(([name, shape], i) => ({
      name,
      shape,
      dtype,
      data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, (_, j) => i + j * 0.5),
    })),
  );
}

test("reads `.default` adapter-named keys and BF16 weights; fills PEFT defaults", () => {
  const dir = fresh();
  writeRaw(
    dir,
    { lora_dropout: 0.1 },
    [
      ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight", [2, 3]],
      ["base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight", [5, 2]],
    ],
    "BF16",
  );
  const { config, tensors } = readPeftAdapter(dir);
  assert.equal(config.r, 2);
  assert.equal(config.lora_dropout, 0.1);
  assert.equal(config.use_rslora, false);
  assert.equal(config.base_model_name_or_path, null);
  assert.equal(tensors.length, 1);
  assert.equal(tensors[0]!.module, "model.layers.0.self_attn.q_proj");
  assert.deepEqual([...tensors[0]!.A.data], [0, 0.5, 1, 1.5, 2, 2.5]);
  assert.deepEqual(tensors[0]!.B.shape, [5, 2]);
});

test("malformed adapters fail clearly", () => {
  const q = "base_model.model.model.layers.0.self_attn.q_proj";
  assert.throws(() => readPeftAdapter(path.join(tmp, "nope")), /adapter folder .*nope not found/);

  const noCfg = fresh();
  fs.mkdirSync(noCfg);
  assert.throws(() => readPeftAdapter(noCfg), /no adapter_config\.json/);

  const noWeights = fresh();
  writeRaw(noWeights, {}, []);
  fs.rmSync(path.join(noWeights, "adapter_model.safetensors"));
  fs.writeFileSync(path.join(noWeights, "adapter_model.bin"), "x");
  assert.throws(() => readPeftAdapter(noWeights), /no adapter_model\.safetensors \(found adapter_model\.bin/);

  const cases: [string, Record<string, unknown>, [string, number[]][], RegExp][] = [
    ["missing B", {}, [[`${q}.lora_A.weight`, [2, 3]]], /model\.layers\.0\.self_attn\.q_proj has lora_A but no lora_B/],
    ["missing A", {}, [[`${q}.lora_B.weight`, [3, 2]]], /q_proj has lora_B but no lora_A/],
    [
      "A r ≠ B r",
      {},
      [
        [`${q}.lora_A.weight`, [2, 3]],
        [`${q}.lora_B.weight`, [3, 4]],
      ],
      /lora_A is \[2, 3\] and lora_B is \[3, 4\]; their ranks differ/,
    ],
    [
      "r ≠ config r",
      { r: 8 },
      [
        [`${q}.lora_A.weight`, [2, 3]],
        [`${q}.lora_B.weight`, [3, 2]],
      ],
      /q_proj has rank 2 but the adapter config says r = 8/,
    ],
    [
      "not a target",
      { target_modules: ["v_proj"] },
      [
        [`${q}.lora_A.weight`, [2, 3]],
        [`${q}.lora_B.weight`, [3, 2]],
      ],
      /q_proj has LoRA weights but is not in target_modules \[v_proj\]/,
    ],
    [
      "3-D factor",
      {},
      [
        [`${q}.lora_A.weight`, [2, 3, 1]],
        [`${q}.lora_B.weight`, [3, 2]],
      ],
      /lora_A\.weight" has shape \[2, 3, 1\]; LoRA factors are 2-D/,
    ],
    ["foreign tensor", {}, [[`${q}.weight`, [3, 3]]], /unexpected tensor ".*q_proj\.weight"/],
    [
      "two adapters",
      {},
      [
        [`${q}.lora_A.default.weight`, [2, 3]],
        [`${q}.lora_B.other.weight`, [3, 2]],
      ],
      /more than one adapter/,
    ],
    ["DoRA", { use_dora: true }, [], /use_dora: true \(DoRA\).*does not support/],
    [
      "some layers",
      { layers_to_transform: [0, 1] },
      [],
      /layers_to_transform \(LoRA on some layers only\).*does not support/,
    ],
    ["not LoRA", { peft_type: "IA3" }, [], /peft_type is "IA3"; only "LORA"/],
    ["regex targets", { target_modules: ".*proj" }, [], /target_modules is the pattern/],
    ["no r", { r: "eight" }, [], /"r" must be a number/],
  ];
  for (const [what, config, names, re] of cases) {
    const dir = fresh();
    writeRaw(dir, config, names);
    assert.throws(() => readPeftAdapter(dir), re, what);
  }
});

test("writePeftAdapter validates shapes against r and each other", () => {
  const pair = (rA: number, rB: number): AdapterTensors => ({
    module: "m.q_proj",
    A: { shape: [rA, 3], data: new Float32Array(rA * 3) },
    B: { shape: [5, rB], data: new Float32Array(5 * rB) },
  });
  assert.throws(
    () => writePeftAdapter(fresh(), cfg, [pair(4, 2)]),
    /m\.q_proj: lora_A is \[4, 3\] and lora_B is \[5, 2\]; their ranks differ/,
  );
  assert.throws(() => writePeftAdapter(fresh(), cfg, [pair(2, 2)]), /rank 2 but the adapter config says r = 4/);
  assert.throws(() => writePeftAdapter(fresh(), cfg, [pair(4, 4), pair(4, 4)]), /given twice/);
  const bad = pair(4, 4);
  bad.A.data = new Float32Array(5);
  assert.throws(() => writePeftAdapter(fresh(), cfg, [bad]), /lora_A of m\.q_proj has 5 values for shape \[4, 3\]/);
});
