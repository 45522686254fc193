// Tests for hub.ts against a real HTTP server on 127.0.0.1 that serves a small fixture repo in the Hugging Face
// hub's URL layout (the routes @huggingface/hub requests: /api/{models,datasets}/<id>/revision/<rev>,
// .../tree/<sha>, POST .../paths-info/<sha>, /<id>/resolve/<sha>/<file> with Range, ETag, X-Repo-Commit,
// X-Linked-Size). Checks: the HF cache layout, only model files fetched, second call served from the cache,
// HF_ENDPOINT / HF_TOKEN / HF_HUB_CACHE honoured, clear errors for a missing folder, 404, 401 and no network.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { downloadRepoFiles, resolveModel, isModelFile } from "./hub.ts";
import { FakeHub, type RepoFixture } from "./testing/fake-hub.ts";
import { openCheckpoint, writeSafetensors } from "./models/safetensors.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hub-test-"));
let cacheCounter = 0;
const freshCache = () => path.join(tmp, `cache${cacheCounter++}`);

function makeRepos(): Map<string, RepoFixture> {
  const st = path.join(tmp, "fixture.safetensors");
  writeSafetensors(st, [
    { name: "model.embed_tokens.weight", shape: [4, 2], data: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]) },
  ]);
  const model = new Map<string, Buffer>([
    ["config.json", Buffer.from(JSON.stringify({ model_type: "llama", hidden_size: 2, vocab_size: 4 }))],
    ["model.safetensors", fs.readFileSync(st)],
    ["tokenizer.json", Buffer.from('{"model":{"type":"BPE","vocab":{},"merges":[]}}')],
    ["tokenizer_config.json", Buffer.from('{"tokenizer_class":"PreTrainedTokenizerFast"}')],
    ["generation_config.json", Buffer.from('{"do_sample":false}')],
    ["README.md", Buffer.from("# tiny\n")],
    ["pytorch_model.bin", Buffer.alloc(64, 7)],
    ["onnx/model.onnx", Buffer.alloc(32, 1)],
    ["original/consolidated.00.pth", Buffer.alloc(32, 2)],
  ]);
  const data = new Map<string, Buffer>([
    ["data/train-00000-of-00001.parquet", Buffer.alloc(100, 3)],
    ["data/test-00000-of-00001.parquet", Buffer.alloc(50, 4)],
    ["README.md", Buffer.from("# data\n")],
  ]);
  const sha = (s: string) => crypto.createHash("sha1").update(s).digest("hex");
  return new Map([
    ["models/test-org/tiny-llama", { sha: sha("model-commit"), files: model }],
    ["models/test-org/gated", { sha: sha("gated-commit"), files: model, gated: true }],
    ["datasets/test-org/tiny-data", { sha: sha("data-commit"), files: data }],
  ]);
}

const repos = makeRepos();
const hub = new FakeHub(repos);
const savedEnv = { ...process.env };
before(async () => {
  await hub.start();
  for (const k of ["HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HF_HOME"])
    delete process.env[k];
});
after(async () => {
  await hub.stop();
  process.env = savedEnv;
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("resolveModel downloads only model files into the HF cache layout, then serves from the cache", async () => {
  const cacheDir = freshCache();
  const model = repos.get("models/test-org/tiny-llama")!;
  const progress: string[] = [];
  const before = hub.requests.length;
  const dir = await resolveModel("test-org/tiny-llama", {
    cacheDir,
    hubUrl: hub.url,
    onProgress: (f, loaded, total) => loaded === total && progress.push(f),
  });

  const storage = path.join(cacheDir, "models--test-org--tiny-llama");
  assert.equal(dir, path.join(storage, "snapshots", model.sha));
  assert.equal(fs.readFileSync(path.join(storage, "refs", "main"), "utf8"), model.sha);
  const wanted = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
  ];
  assert.deepEqual(fs.readdirSync(dir).sort(), wanted);
  for (const f of wanted) {
    assert.deepEqual(fs.readFileSync(path.join(dir, f)), model.files.get(f), f);
    assert.ok(fs.lstatSync(path.join(dir, f)).isSymbolicLink(), `${f} is a link into blobs/`);
  }
  // blobs are named by the LFS sha256 (safetensors) or the git oid, as huggingface_hub names them
  const stSha = crypto.createHash("sha256").update(model.files.get("model.safetensors")!).digest("hex");
  assert.ok(fs.existsSync(path.join(storage, "blobs", stSha)));
  assert.deepEqual([...progress].sort(), wanted);
  const ck = openCheckpoint(dir);
  assert.deepEqual(ck.readF32("model.embed_tokens.weight", [4, 2]), new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]));
  ck.close();
  const fetched = hub.fileRequests();
  for (const skipped of ["pytorch_model.bin", "onnx/model.onnx", "original/consolidated.00.pth", "README.md"]) {
    assert.ok(!fetched.some((u) => u.endsWith(skipped)), `${skipped} must not be requested`);
  }
  assert.ok(hub.requests.length > before);

  // second call: entirely from the cache, no request at all
  const n = hub.requests.length;
  assert.equal(await resolveModel("test-org/tiny-llama", { cacheDir, hubUrl: hub.url }), dir);
  assert.equal(hub.requests.length, n);
  // and by commit sha too
  assert.equal(await resolveModel("test-org/tiny-llama", { cacheDir, hubUrl: hub.url, revision: model.sha }), dir);
  assert.equal(hub.requests.length, n);
  // a deleted file is fetched again (and only that one)
  fs.rmSync(path.join(dir, "model.safetensors"));
  fs.rmSync(path.join(storage, "blobs", stSha));
  const files0 = hub.fileRequests().length;
  await resolveModel("test-org/tiny-llama", { cacheDir, hubUrl: hub.url });
  const again = hub.fileRequests().slice(files0);
  assert.ok(again.length > 0 && again.every((u) => u.endsWith("/model.safetensors")), again.join(", "));
});

test("HF_ENDPOINT, HF_TOKEN and HF_HUB_CACHE are honoured; a gated repo without a token is a clear error", async () => {
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = freshCache();
  try {
    await assert.rejects(
      resolveModel("test-org/gated"),
      /could not download model "test-org\/gated".*access denied \(401\).*HF_TOKEN/,
    );
    process.env.HF_TOKEN = "hf_good";
    const dir = await resolveModel("test-org/gated");
    assert.ok(dir.startsWith(path.join(process.env.HF_HUB_CACHE, "models--test-org--gated", "snapshots")));
    assert.equal(hub.requests.at(-1)!.auth, "Bearer hf_good");
  } finally {
    delete process.env.HF_ENDPOINT;
    delete process.env.HF_TOKEN;
    delete process.env.HF_HUB_CACHE;
  }
});

test("datasets: a predicate picks files; the second call requests no file", async () => {
  const cacheDir = freshCache();
  const data = repos.get("datasets/test-org/tiny-data")!;
  const pick = (p: string) => p.startsWith("data/test-");
  const dir = await downloadRepoFiles({ type: "dataset", name: "test-org/tiny-data" }, pick, {
    cacheDir,
    hubUrl: hub.url,
  });
  assert.equal(dir, path.join(cacheDir, "datasets--test-org--tiny-data", "snapshots", data.sha));
  assert.deepEqual(
    fs.readFileSync(path.join(dir, "data/test-00000-of-00001.parquet")),
    data.files.get("data/test-00000-of-00001.parquet"),
  );
  assert.equal(fs.existsSync(path.join(dir, "data/train-00000-of-00001.parquet")), false);
  const files = hub.fileRequests().length;
  assert.equal(
    await downloadRepoFiles({ type: "dataset", name: "test-org/tiny-data" }, pick, { cacheDir, hubUrl: hub.url }),
    dir,
  );
  assert.equal(hub.fileRequests().length, files);
  await assert.rejects(
    downloadRepoFiles({ type: "dataset", name: "test-org/tiny-data" }, ["data/missing.parquet"], {
      cacheDir,
      hubUrl: hub.url,
    }),
    /dataset "test-org\/tiny-data" has no file "data\/missing\.parquet"/,
  );
  // an explicit list already in the cache needs no request at all
  const n = hub.requests.length;
  await downloadRepoFiles({ type: "dataset", name: "test-org/tiny-data" }, ["data/test-00000-of-00001.parquet"], {
    cacheDir,
    hubUrl: hub.url,
  });
  assert.equal(hub.requests.length, n);
});

test("errors: missing local folder, unknown repo, no network, offline mode", async () => {
  await assert.rejects(resolveModel("./no/such/model"), /model folder \.\/no\/such\/model not found/);
  await assert.rejects(resolveModel(path.join(tmp, "absent")), /model folder .*absent not found/);
  const localDir = path.join(tmp, "local-model");
  fs.mkdirSync(localDir);
  assert.equal(await resolveModel(localDir), localDir);
  await assert.rejects(
    resolveModel("test-org/unknown", { cacheDir: freshCache(), hubUrl: hub.url }),
    /could not download model "test-org\/unknown".*not found \(404\).*pass a local folder/,
  );
  // a port where nothing listens: no network
  const dead = http.createServer();
  await new Promise<void>((ok) => dead.listen(0, "127.0.0.1", ok));
  const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
  await new Promise((ok) => dead.close(ok));
  await assert.rejects(
    resolveModel("test-org/tiny-llama", { cacheDir: freshCache(), hubUrl: deadUrl, fetchOptions: { retries: 0 } }),
    /could not download model "test-org\/tiny-llama" from http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*pass a local folder/,
  );
  // no network but a cached snapshot: it is used
  const cacheDir = freshCache();
  const dir = await resolveModel("test-org/tiny-llama", { cacheDir, hubUrl: hub.url });
  assert.equal(
    await downloadRepoFiles({ type: "model", name: "test-org/tiny-llama" }, isModelFile, {
      cacheDir,
      hubUrl: deadUrl,
      fetchOptions: { retries: 0 },
    }),
    dir,
  );
  process.env.HF_HUB_OFFLINE = "1";
  try {
    await assert.rejects(
      resolveModel("test-org/tiny-llama", { cacheDir: freshCache(), hubUrl: hub.url }),
      /not in the cache .* HF_HUB_OFFLINE is set/,
    );
    assert.equal(await resolveModel("test-org/tiny-llama", { cacheDir, hubUrl: hub.url }), dir);
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
});
