// Tests for the safetensors reader/writer: round trips for F32/F16/BF16, bit-exact half-precision conversion,
// sharded checkpoints, every corrupt/truncated case, and the real stories260K checkpoint in ../shared (skipped
// when absent). Fixtures are written into a temp folder by the tests themselves (by hand, bytes as the spec says).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  openCheckpoint,
  writeSafetensors,
  f16BitsToF32,
  f32ToF16Bits,
  bf16BitsToF32,
  f32ToBf16Bits,
  SafetensorsError,
} from "./safetensors.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const shared = path.resolve(repoRoot, "../shared");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "safetensors-test-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
const fresh = (name: string) => {
  const d = path.join(tmp, `${counter++}`);
  fs.mkdirSync(d);
  return path.join(d, name);
};

/** Build a safetensors file by hand: header object + data bytes (independent of writeSafetensors). */
function rawFile(header: unknown, data: Uint8Array, opts: { headerLen?: bigint; headerText?: string } = {}): Buffer {
  const json = Buffer.from(opts.headerText ?? JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.headerLen ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

test("F32 round trip is bit-exact, incl. inf, nan, -0 and subnormals; header aligned to 8", () => {
  const file = fresh("model.safetensors");
  const a = new Float32Array([1, -2.5, Infinity, -Infinity, NaN, -0, 1e-45, 3.4028234663852886e38, 0.1, 123456.789]);
  const b = new Float32Array(12).map((_, i) => i * 0.25 - 1);
  writeSafetensors(
    file,
    [
      { name: "a", shape: [2, 5], data: a },
      { name: "x.y.weight", shape: [3, 4], data: b },
    ],
    { format: "pt" },
  );
  const buf = fs.readFileSync(file);
  assert.equal(Number(buf.readBigUInt64LE(0)) % 8, 0);
  const ck = openCheckpoint(path.dirname(file));
  assert.deepEqual(ck.metadata, { format: "pt" });
  assert.deepEqual([...ck.entries.keys()].sort(), ["a", "x.y.weight"]);
  assert.deepEqual(ck.entries.get("a")!.shape, [2, 5]);
  assert.equal(ck.entries.get("a")!.dtype, "F32");
  const ra = ck.readF32("a", [2, 5]);
  assert.deepEqual(new Uint32Array(ra.buffer), new Uint32Array(a.buffer));
  assert.deepEqual(ck.readF32("x.y.weight"), b);
  assert.deepEqual(ck.readBytes("x.y.weight"), new Uint8Array(b.buffer));
  ck.close();
  assert.throws(() => ck.readF32("a"), /closed/);
});

test("F16 and BF16 round trips for representable values", () => {
  const file = fresh("w.safetensors");
  // all exactly representable in both: small integers, powers of two, halves
  const vals = new Float32Array([0, -0, 1, -1, 0.5, 2, 3, -96, 256, 0.375, -1024, Infinity, -Infinity, NaN]);
  writeSafetensors(file, [
    { name: "h", shape: [vals.length], data: vals, dtype: "F16" },
    { name: "b", shape: [vals.length], data: vals, dtype: "BF16" },
    { name: "s", shape: [], data: new Float32Array([7]), dtype: "BF16" },
  ]);
  const ck = openCheckpoint(file);
  assert.equal(ck.entries.get("h")!.dtype, "F16");
  assert.equal(ck.entries.get("b")!.end - ck.entries.get("b")!.begin, vals.length * 2);
  for (const n of ["h", "b"]) {
    const r = ck.readF32(n);
    assert.deepEqual(new Uint32Array(r.buffer.slice(0, 13 * 4)), new Uint32Array(vals.buffer.slice(0, 13 * 4)), n);
    assert.ok(Number.isNaN(r[13]!), n);
  }
  assert.deepEqual(ck.readF32("s", []), new Float32Array([7]));
  ck.close();
});

test("half-precision conversions: known bit patterns and exact round trip of all 65536 codes", () => {
  // binary16: smallest subnormal 2^-24, largest subnormal, smallest normal 2^-14, max 65504, inf, NaN
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0x03ff), 1023 * 2 ** -24);
  assert.equal(f16BitsToF32(0x0400), 2 ** -14);
  assert.equal(f16BitsToF32(0x7bff), 65504);
  assert.equal(f16BitsToF32(0x3c00), 1);
  assert.equal(f16BitsToF32(0xc000), -2);
  assert.equal(f16BitsToF32(0x3555), 0.333251953125);
  assert.equal(f16BitsToF32(0x7c00), Infinity);
  assert.equal(f16BitsToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  // rounding down to binary16: ties to even, overflow to inf, underflow to 0, subnormal results
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even (down)
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
  assert.equal(f32ToF16Bits(65520), 0x7c00); // rounds up past max → inf
  assert.equal(f32ToF16Bits(65519), 0x7bff);
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // tie between 0 and min subnormal → 0 (even)
  assert.equal(f32ToF16Bits(1.5 * 2 ** -25), 0x0001);
  assert.equal(f32ToF16Bits(-(2 ** -24) * 3), 0x8003);
  assert.equal(f32ToF16Bits(2 ** -14 - 2 ** -26), 0x0400); // rounds up into the smallest normal
  assert.equal(f32ToF16Bits(1e-10), 0);
  // bfloat16
  assert.equal(bf16BitsToF32(0x3f80), 1);
  assert.equal(bf16BitsToF32(0x0001), 2 ** -133); // subnormal
  assert.equal(bf16BitsToF32(0x7f80), Infinity);
  assert.equal(bf16BitsToF32(0xff80), -Infinity);
  assert.equal(bf16BitsToF32(0x7f7f), 3.3895313892515355e38);
  assert.ok(Number.isNaN(bf16BitsToF32(0x7fc0)));
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(f32ToBf16Bits(3.4028234663852886e38), 0x7f80); // max float32 rounds to inf
  assert.equal(f32ToBf16Bits(NaN) & 0x7fc0, 0x7fc0);
  for (let h = 0; h < 65536; h++) {
    const x = f16BitsToF32(h);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(x))));
    else assert.equal(f32ToF16Bits(x), h, `f16 0x${h.toString(16)}`);
    const y = bf16BitsToF32(h);
    if (Number.isNaN(y)) assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(y))));
    else assert.equal(f32ToBf16Bits(y), h, `bf16 0x${h.toString(16)}`);
  }
});

test("reads hand-made F16 (subnormal, inf, nan), BF16, F64 and integer tensors", () => {
  const f16 = new Uint16Array([0x0001, 0x7c00, 0xfe00, 0x3c00]);
  const bf16 = new Uint16Array([0x3f80, 0x0001, 0xff80, 0x4049]);
  const f64 = new Float64Array([Math.PI, -1e300]);
  const i64 = new BigInt64Array([-3n, 9007199254740991n]);
  const i8 = new Int8Array([-128, 127]);
  const parts = [f16, bf16, f64, i64, i8].map((a) => new Uint8Array(a.buffer));
  const offs: [number, number][] = [];
  let o = 0;
  for (const p of parts) offs.push([o, (o += p.length)]);
  const header = {
    h: { dtype: "F16", shape: [4], data_offsets: offs[0] },
    b: { dtype: "BF16", shape: [2, 2], data_offsets: offs[1] },
    d: { dtype: "F64", shape: [2], data_offsets: offs[2] },
    l: { dtype: "I64", shape: [2], data_offsets: offs[3] },
    c: { dtype: "I8", shape: [2], data_offsets: offs[4] },
  };
  const file = fresh("x.safetensors");
  fs.writeFileSync(file, rawFile(header, Buffer.concat(parts)));
  const ck = openCheckpoint(file);
  const h = ck.readF32("h");
  assert.equal(h[0], 2 ** -24);
  assert.equal(h[1], Infinity);
  assert.ok(Number.isNaN(h[2]!));
  assert.equal(h[3], 1);
  assert.deepEqual([...ck.readF32("b", [2, 2])], [1, 2 ** -133, -Infinity, 3.140625]);
  assert.deepEqual(ck.readF32("d"), new Float32Array([Math.PI, -Infinity]));
  assert.deepEqual(ck.readF32("l"), new Float32Array([-3, 9007199254740991]));
  assert.deepEqual(ck.readF32("c"), new Float32Array([-128, 127]));
  ck.close();
});

test("sharded checkpoint via model.safetensors.index.json", () => {
  const dir = path.dirname(fresh("x"));
  const w1 = new Float32Array([1, 2, 3, 4, 5, 6]);
  const w2 = new Float32Array([7, 8]);
  const w3 = new Float32Array([9.5]);
  writeSafetensors(path.join(dir, "model-00001-of-00002.safetensors"), [
    { name: "a.weight", shape: [2, 3], data: w1 },
    { name: "b.weight", shape: [2], data: w2, dtype: "BF16" },
  ]);
  writeSafetensors(path.join(dir, "model-00002-of-00002.safetensors"), [{ name: "c.weight", shape: [1, 1], data: w3 }]);
  const index = {
    metadata: { total_size: 34 },
    weight_map: {
      "a.weight": "model-00001-of-00002.safetensors",
      "b.weight": "model-00001-of-00002.safetensors",
      "c.weight": "model-00002-of-00002.safetensors",
    },
  };
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify(index));
  const ck = openCheckpoint(dir);
  assert.equal(ck.entries.size, 3);
  assert.equal(ck.metadata.total_size, "34");
  assert.ok(ck.entries.get("c.weight")!.file.endsWith("model-00002-of-00002.safetensors"));
  assert.deepEqual(ck.readF32("a.weight", [2, 3]), w1);
  assert.deepEqual(ck.readF32("b.weight"), w2);
  assert.deepEqual(ck.readF32("c.weight", [1, 1]), w3);
  ck.close();

  // a shard the index points at is missing
  fs.rmSync(path.join(dir, "model-00002-of-00002.safetensors"));
  assert.throws(
    () => openCheckpoint(dir),
    (e: Error) =>
      e instanceof SafetensorsError &&
      /model\.safetensors\.index\.json.*model-00002-of-00002\.safetensors.*does not exist/.test(e.message),
  );
  // the index names a tensor its shard does not have
  index.weight_map["c.weight"] = "model-00001-of-00002.safetensors";
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify(index));
  assert.throws(() => openCheckpoint(dir), /tensor "c\.weight" in model-00001-of-00002\.safetensors.*no such tensor/);
});

test("missing tensor lists similar names; shape mismatch names file, tensor and both shapes", () => {
  const file = fresh("model.safetensors");
  const z = new Float32Array(4);
  writeSafetensors(file, [
    { name: "model.layers.0.self_attn.q_proj.weight", shape: [2, 2], data: z },
    { name: "model.layers.0.self_attn.k_proj.weight", shape: [2, 2], data: z },
    { name: "model.norm.weight", shape: [4], data: z },
  ]);
  const ck = openCheckpoint(path.dirname(file));
  assert.throws(
    () => ck.readF32("model.layers.0.self_attn.v_proj.weight"),
    (e: Error) =>
      /no tensor "model\.layers\.0\.self_attn\.v_proj\.weight"/.test(e.message) &&
      /closest: "model\.layers\.0\.self_attn\.(k|q)_proj\.weight"/.test(e.message),
  );
  assert.throws(
    () => ck.readF32("model.norm.weight", [2, 2]),
    (e: Error) =>
      e.message.includes(file) && /"model\.norm\.weight" has shape \[4\] but \[2, 2\] was expected/.test(e.message),
  );
  ck.close();
});

test("corrupt and truncated files fail with the file and tensor named", () => {
  const data = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  const good = { w: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] } };
  const cases: [string, Buffer, RegExp][] = [
    ["too short", Buffer.from([1, 2, 3]), /3 bytes, too short for the 8-byte header length/],
    ["header longer than file", rawFile(good, data, { headerLen: 5000n }), /header length 5000 runs past the end/],
    ["absurd header length", rawFile(good, data, { headerLen: 1n << 62n }), /implausible/],
    ["header not JSON", rawFile(null, data, { headerText: '{"w": {"dtype": "F32",' }), /header is not valid JSON/],
    ["header not an object", rawFile([1, 2], data), /not a JSON object/],
    [
      "truncated data",
      rawFile(good, data.slice(0, 10)),
      /tensor "w": data_offsets \[0, 16\] run past the end of the data \(10 bytes.*truncated/,
    ],
    [
      "offsets vs dtype×shape",
      rawFile({ w: { dtype: "F32", shape: [3, 2], data_offsets: [0, 16] } }, data),
      /tensor "w".*16 bytes but F32 \[3, 2\] needs 24/,
    ],
    [
      "unknown dtype",
      rawFile({ w: { dtype: "F8_E4M3", shape: [16], data_offsets: [0, 16] } }, data),
      /tensor "w": unsupported dtype "F8_E4M3"/,
    ],
    [
      "bad offsets",
      rawFile({ w: { dtype: "F32", shape: [2, 2], data_offsets: [16, 0] } }, data),
      /tensor "w": data_offsets \[16,0\]/,
    ],
    [
      "bad shape",
      rawFile({ w: { dtype: "F32", shape: [-4], data_offsets: [0, 16] } }, data),
      /tensor "w": shape \[-4\]/,
    ],
    [
      "overlap",
      rawFile(
        {
          u: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] },
          v: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
        },
        data,
      ),
      /overlap/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    const file = fresh("bad.safetensors");
    fs.writeFileSync(file, bytes);
    assert.throws(
      () => openCheckpoint(file),
      (e: Error) => e instanceof SafetensorsError && e.message.startsWith(file) && re.test(e.message),
      what,
    );
  }
  // the good variant of the same bytes opens
  const file = fresh("ok.safetensors");
  fs.writeFileSync(file, rawFile(good, data));
  const ck = openCheckpoint(file);
  assert.deepEqual(ck.readF32("w"), new Float32Array([1, 2, 3, 4]));
  ck.close();
});

test("folder resolution errors: missing path, no safetensors, several without an index", () => {
  assert.throws(() => openCheckpoint(path.join(tmp, "nope")), /checkpoint not found/);
  const dir = path.dirname(fresh("x"));
  fs.writeFileSync(path.join(dir, "pytorch_model.bin"), "x");
  assert.throws(() => openCheckpoint(dir), /no \.safetensors file.*pytorch_model\.bin/);
  writeSafetensors(path.join(dir, "a.safetensors"), [{ name: "a", shape: [1], data: new Float32Array([1]) }]);
  const ck = openCheckpoint(dir); // a single *.safetensors is used
  assert.deepEqual(ck.readF32("a"), new Float32Array([1]));
  ck.close();
  writeSafetensors(path.join(dir, "b.safetensors"), [{ name: "b", shape: [1], data: new Float32Array([1]) }]);
  assert.throws(() => openCheckpoint(dir), /2 \.safetensors files.*no model\.safetensors\.index\.json/);
});

test("writer validation: value count vs shape, duplicate names", () => {
  const file = fresh("w.safetensors");
  assert.throws(
    () => writeSafetensors(file, [{ name: "a", shape: [2, 3], data: new Float32Array(5) }]),
    /"a" has 5 values but shape \[2, 3\] needs 6/,
  );
  assert.throws(
    () =>
      writeSafetensors(file, [
        { name: "a", shape: [1], data: new Float32Array(1) },
        { name: "a", shape: [1], data: new Float32Array(1) },
      ]),
    /given twice/,
  );
  assert.equal(fs.existsSync(file), false);
});

test("stories260K checkpoint: names and shapes match its config.json", (t) => {
  const dir = path.join(shared, "models/stories260K");
  if (!fs.existsSync(path.join(dir, "model.safetensors"))) return t.skip(`${dir} not present`);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const H = cfg.hidden_size,
    I = cfg.intermediate_size,
    V = cfg.vocab_size,
    hd = cfg.head_dim;
  const nq = cfg.num_attention_heads * hd,
    nkv = cfg.num_key_value_heads * hd;
  const expected = new Map<string, number[]>([
    ["model.embed_tokens.weight", [V, H]],
    ["model.norm.weight", [H]],
  ]);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    expected.set(p + "self_attn.q_proj.weight", [nq, H]);
    expected.set(p + "self_attn.k_proj.weight", [nkv, H]);
    expected.set(p + "self_attn.v_proj.weight", [nkv, H]);
    expected.set(p + "self_attn.o_proj.weight", [H, nq]);
    expected.set(p + "mlp.gate_proj.weight", [I, H]);
    expected.set(p + "mlp.up_proj.weight", [I, H]);
    expected.set(p + "mlp.down_proj.weight", [H, I]);
    expected.set(p + "input_layernorm.weight", [H]);
    expected.set(p + "post_attention_layernorm.weight", [H]);
  }
  const ck = openCheckpoint(dir);
  assert.deepEqual([...ck.entries.keys()].sort(), [...expected.keys()].sort());
  let params = 0;
  for (const [name, shape] of expected) {
    const e = ck.entries.get(name)!;
    assert.equal(e.dtype, "F32");
    const w = ck.readF32(name, shape);
    params += w.length;
    assert.ok(w.every(Number.isFinite), name);
  }
  assert.equal(params, 260032); // docs/data.md §2: 260,032 parameters
  // bit-identical to the unpermuted arrays of the original llama2.c file (layout in docs/data.md §2)
  const binFile = path.join(dir, "stories260K.bin");
  if (fs.existsSync(binFile)) {
    const bin = fs.readFileSync(binFile);
    const f = new Float32Array(bin.buffer.slice(bin.byteOffset + 28, bin.byteOffset + bin.length));
    const L = cfg.num_hidden_layers;
    let o = 0;
    const take = (n: number) => f.subarray(o, (o += n));
    const emb = take(V * H);
    take(L * H); // rms_att
    take(L * nq * H);
    take(L * nkv * H);
    take(L * nkv * H);
    take(L * H * nq); // wq wk wv wo
    const rmsFfn = take(L * H);
    take(L * I * H); // w1 (gate)
    const w2 = take(L * H * I); // down
    take(L * I * H); // w3 (up)
    const rmsFinal = take(H);
    assert.deepEqual(ck.readF32("model.embed_tokens.weight"), emb);
    assert.deepEqual(ck.readF32("model.layers.1.post_attention_layernorm.weight"), rmsFfn.subarray(H, 2 * H));
    assert.deepEqual(ck.readF32("model.layers.4.mlp.down_proj.weight"), w2.subarray(4 * H * I, 5 * H * I));
    assert.deepEqual(ck.readF32("model.norm.weight"), rmsFinal);
  }
  ck.close();
});
