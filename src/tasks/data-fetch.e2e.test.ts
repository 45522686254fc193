// `data fetch` end to end against a fake hub (src/testing/fake-hub.ts, a real HTTP server in the hub's URL layout):
// ARC-Easy's parquet splits of allenai/ai2_arc (fixture from tools/reference/make-arc-parquet.mjs) and GSM8K's JSONL
// splits of openai/gsm8k are downloaded into the HF cache (HF_ENDPOINT, HF_HUB_CACHE), copied to
// <dataDir>/<task>/hub/…, recorded with sha256 in MANIFEST.json and read back by loadDocs; a second fetch downloads
// nothing; a 404 or an unreachable endpoint is a clear error that writes nothing. The CLI path is run once as a process.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FakeHub, commitSha } from "../testing/fake-hub.ts";
import { HubError } from "../hub.ts";
import { fetchTaskData, readManifest, type Manifest } from "./data-admin.ts";
import { loadDocs } from "./load.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const sha256 = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");

// 3 rows: Mercury_417466 (A), NYSEDREGENTS_2012_8_42 (digit labels, answer "2"), Five_choices (answer "E").
const arcParquet = fs.readFileSync(path.join(here, "fixtures/arc-hub-test.parquet"));
const arcFiles = new Map<string, Buffer>([
  ["ARC-Easy/train-00000-of-00001.parquet", arcParquet],
  ["ARC-Easy/validation-00000-of-00001.parquet", arcParquet],
  ["ARC-Easy/test-00000-of-00001.parquet", arcParquet],
  ["ARC-Challenge/test-00000-of-00001.parquet", Buffer.alloc(10, 1)], // another config: must not be fetched
  ["README.md", Buffer.from("# ai2_arc\n")],
]);

const jsonl = (rows: object[]) => Buffer.from(rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
const gsmTrain = jsonl([
  {
    question: "Tom has 3 apples and buys 2 more. How many apples does he have?",
    answer: "He has 3 + 2 = <<3+2=5>>5 apples.\n#### 5",
  },
  { question: "A book costs $12. How much do 3 books cost?", answer: "3 * 12 = <<3*12=36>>36\n#### 36" },
]);
const gsmTest = jsonl([
  { question: "Sara had 10 pencils and gave away 4. How many are left?", answer: "10 - 4 = <<10-4=6>>6\n#### 6" },
  { question: "What is 1,000 minus 1?", answer: "1000 - 1 = 999\n#### 999" },
  { question: "It is -3 degrees and warms by 5. What is the temperature?", answer: "-3 + 5 = 2\n#### 2" },
]);
const gsmFiles = new Map<string, Buffer>([
  ["main/train-00000-of-00001.jsonl", gsmTrain],
  ["main/test-00000-of-00001.jsonl", gsmTest],
  ["socratic/test-00000-of-00001.jsonl", jsonl([{ question: "not main", answer: "#### 0" }])],
  [".gitattributes", Buffer.from("*.parquet filter=lfs\n")],
]);

const repos = new Map([
  ["datasets/allenai/ai2_arc", { sha: commitSha("arc-commit"), files: arcFiles }],
  ["datasets/openai/gsm8k", { sha: commitSha("gsm8k-commit"), files: gsmFiles }],
]);
const hub = new FakeHub(repos);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "data-fetch-"));
const savedEnv = { ...process.env };

/** A port on 127.0.0.1 with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((ok) => s.listen(0, "127.0.0.1", ok));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((ok) => s.close(ok));
  return port;
}

/** Every file under dir, relative, "/"-separated, sorted. */
function listTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) =>
      path
        .relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
        .split(path.sep)
        .join("/"),
    )
    .sort();
}

before(async () => {
  await hub.start();
  for (const k of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HOME"]) delete process.env[k];
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = path.join(tmp, "cache");
});
after(async () => {
  await hub.stop();
  process.env = savedEnv;
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("data fetch arc_easy (parquet): files land where loadDocs finds them, with sha256s; a second fetch downloads nothing", async () => {
  const dataDir = path.join(tmp, "datasets");
  const progress = new Map<string, [number, number]>();
  const manifest = await fetchTaskData("arc_easy", {
    dataDir,
    onProgress: (f, loaded, total) => progress.set(f, [loaded, total]),
  });
  const taskDir = path.join(dataDir, "arc_easy");
  const fetched = hub.fileRequests();
  assert.ok(
    fetched.some((u) => u.startsWith("/datasets/allenai/ai2_arc/resolve/") && u.includes("ARC-Easy/")),
    fetched.join("\n"),
  );
  assert.ok(
    !fetched.some((u) => u.includes("ARC-Challenge") || u.includes("README") || u.includes("validation")),
    `only the used splits of this config: ${fetched.join(", ")}`,
  );

  // Only the splits the task uses (train, and test for evaluation) are fetched, under hub/ with the repo's paths.
  assert.deepEqual(listTree(taskDir), [
    "MANIFEST.json",
    "hub/ARC-Easy/test-00000-of-00001.parquet",
    "hub/ARC-Easy/train-00000-of-00001.parquet",
  ]);
  assert.deepEqual(readManifest(taskDir), manifest);
  assert.equal(manifest.task, "arc_easy");
  assert.equal(manifest.how, "fetch");
  assert.equal(manifest.repo, "allenai/ai2_arc");
  assert.equal(manifest.revision, "main");
  assert.deepEqual(manifest.rows, { train: 3, test: 3 });
  assert.deepEqual(manifest.files.map((f) => f.path).sort(), [
    "hub/ARC-Easy/test-00000-of-00001.parquet",
    "hub/ARC-Easy/train-00000-of-00001.parquet",
  ]);
  for (const f of manifest.files) {
    assert.equal(
      f.sha256,
      sha256(fs.readFileSync(path.join(taskDir, f.path))),
      `${f.path}: sha256 of the file on disk`,
    );
    assert.equal(f.sha256, sha256(arcParquet), `${f.path}: sha256 of what the hub served`);
    assert.equal(f.bytes, arcParquet.length);
    assert.equal(f.source, `hf://datasets/allenai/ai2_arc@main/${f.path.slice("hub/".length)}`);
  }
  // Progress reached 100% for every downloaded file.
  for (const rel of ["ARC-Easy/train-00000-of-00001.parquet", "ARC-Easy/test-00000-of-00001.parquet"]) {
    assert.deepEqual(progress.get(rel), [arcParquet.length, arcParquet.length], `progress of ${rel}`);
  }

  const docs = await loadDocs<{ id: string; answerKey: string; choices: { label: string[] } }>(
    "arc_easy",
    "test",
    dataDir,
  );
  assert.deepEqual(docs.files, [path.join(taskDir, "hub/ARC-Easy/test-00000-of-00001.parquet")]);
  assert.deepEqual(
    docs.docs.map((d) => [d.id, d.answerKey, d.choices.label.length]),
    [
      ["Mercury_417466", "A", 4],
      ["NYSEDREGENTS_2012_8_42", "2", 3],
      ["Five_choices", "E", 5],
    ],
  );
  assert.equal((await loadDocs("arc_easy", "train", dataDir)).docs.length, 3);

  // Second fetch: the hub is asked for the revision and listing, but no file is downloaded again; same content.
  const before2 = hub.fileRequests().length;
  const again = await fetchTaskData("arc_easy", { dataDir });
  assert.equal(hub.fileRequests().length, before2, "served from the HF cache");
  assert.deepEqual(again.files, manifest.files);
  assert.deepEqual(listTree(taskDir), [
    "MANIFEST.json",
    "hub/ARC-Easy/test-00000-of-00001.parquet",
    "hub/ARC-Easy/train-00000-of-00001.parquet",
  ]);
});

test("data fetch gsm8k (JSONL): each split's file with its own sha256, the other config left out, rows as served", async () => {
  const dataDir = path.join(tmp, "datasets-gsm");
  const manifest = await fetchTaskData("gsm8k", { dataDir });
  const taskDir = path.join(dataDir, "gsm8k");
  assert.deepEqual(listTree(taskDir), [
    "MANIFEST.json",
    "hub/main/test-00000-of-00001.jsonl",
    "hub/main/train-00000-of-00001.jsonl",
  ]);
  const bySplit = Object.fromEntries(manifest.files.map((f) => [f.path, f.sha256]));
  assert.deepEqual(bySplit, {
    "hub/main/train-00000-of-00001.jsonl": sha256(gsmTrain),
    "hub/main/test-00000-of-00001.jsonl": sha256(gsmTest),
  });
  assert.deepEqual(manifest.rows, { train: 2, test: 3 });
  const test_ = await loadDocs<{ question: string; answer: string }>("gsm8k", "test", dataDir);
  assert.deepEqual(
    test_.docs.map((d) => d.question),
    [
      "Sara had 10 pencils and gave away 4. How many are left?",
      "What is 1,000 minus 1?",
      "It is -3 degrees and warms by 5. What is the temperature?",
    ],
  );
  assert.equal(
    (await loadDocs<{ answer: string }>("gsm8k", "train", dataDir)).docs[1]!.answer,
    "3 * 12 = <<3*12=36>>36\n#### 36",
  );

  // The hub reshards train into two files at a new commit: a re-fetch replaces hub/, leaving no stale shard (which
  // loadDocs would read as part of the same split) and no stale manifest entry.
  const trainRows = gsmTrain.toString().trim().split("\n");
  const shards = [Buffer.from(trainRows[0] + "\n"), Buffer.from(trainRows[1] + "\n")];
  const old = repos.get("datasets/openai/gsm8k")!;
  repos.set("datasets/openai/gsm8k", {
    sha: commitSha("gsm8k-commit-2"),
    files: new Map([
      ["main/train-00000-of-00002.jsonl", shards[0]!],
      ["main/train-00001-of-00002.jsonl", shards[1]!],
      ["main/test-00000-of-00001.jsonl", gsmTest],
    ]),
  });
  try {
    const refetched = await fetchTaskData("gsm8k", { dataDir });
    const expected = [
      "hub/main/test-00000-of-00001.jsonl",
      "hub/main/train-00000-of-00002.jsonl",
      "hub/main/train-00001-of-00002.jsonl",
    ];
    assert.deepEqual(listTree(taskDir), ["MANIFEST.json", ...expected]);
    assert.deepEqual(refetched.files.map((f) => f.path).sort(), expected);
    assert.equal(
      refetched.files.find((f) => f.path.endsWith("train-00001-of-00002.jsonl"))!.sha256,
      sha256(shards[1]!),
    );
    assert.deepEqual(refetched.rows, { train: 2, test: 3 });
    assert.deepEqual(
      (await loadDocs<{ question: string }>("gsm8k", "train", dataDir)).docs.map((d) => d.question),
      trainRows.map((l) => (JSON.parse(l) as { question: string }).question),
    );
    assert.deepEqual(fs.readdirSync(dataDir), ["gsm8k"], "no staging folder left");
  } finally {
    repos.set("datasets/openai/gsm8k", old);
  }
});

test("a dataset the hub does not have (404) is a clear error and writes nothing", async () => {
  const dataDir = path.join(tmp, "datasets-404");
  await assert.rejects(fetchTaskData("openbookqa", { dataDir }), (e: Error) => {
    assert.ok(e instanceof HubError, `${e.name}: ${e.message}`);
    assert.match(e.message, /dataset "allenai\/openbookqa" from http:\/\/127\.0\.0\.1:\d+: not found \(404\)/);
    return true;
  });
  assert.deepEqual(listTree(dataDir), [], "nothing written");
});

test("an unreachable endpoint is a clear error and leaves the data dir as it was", async (t) => {
  const dataDir = path.join(tmp, "datasets-offline");
  const url = `http://127.0.0.1:${await closedPort()}`;
  t.after(() => {
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_HUB_CACHE = path.join(tmp, "cache");
  });
  process.env.HF_ENDPOINT = url;
  process.env.HF_HUB_CACHE = path.join(tmp, "cache-empty");
  process.env.LORA_LAB_HUB_RETRIES = "0"; // a refused connection is otherwise retried with backoff (src/hub-fetch.ts)
  t.after(() => delete process.env.LORA_LAB_HUB_RETRIES);
  await assert.rejects(fetchTaskData("arc_easy", { dataDir }), (e: Error) => {
    assert.ok(e instanceof HubError, `${e.name}: ${e.message}`);
    assert.ok(e.message.includes(url), e.message);
    assert.match(e.message, /ECONNREFUSED|no network/);
    return true;
  });
  assert.deepEqual(listTree(dataDir), [], "nothing written");

  // With data already there, a failed fetch changes nothing (no staging folder left behind either).
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = path.join(tmp, "cache-filled");
  const first: Manifest = await fetchTaskData("arc_easy", { dataDir });
  const tree = listTree(dataDir);
  process.env.HF_ENDPOINT = url;
  process.env.HF_HUB_CACHE = path.join(tmp, "cache-empty");
  await assert.rejects(fetchTaskData("arc_easy", { dataDir }), HubError);
  assert.deepEqual(listTree(dataDir), tree);
  assert.deepEqual(readManifest(path.join(dataDir, "arc_easy")), first);
  assert.deepEqual(fs.readdirSync(dataDir), ["arc_easy"]);

  // A cache that has the revision still serves a fetch with no connection (as huggingface_hub does).
  process.env.HF_HUB_CACHE = path.join(tmp, "cache-filled");
  const offline = await fetchTaskData("arc_easy", { dataDir: path.join(tmp, "datasets-from-cache") });
  assert.deepEqual(
    offline.files.map((f) => [f.path, f.sha256]),
    first.files.map((f) => [f.path, f.sha256]),
  );
});

/** Run `node --import tsx experiments/run.ts …` (async: the fake hub lives in this process's event loop). */
function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", "experiments/run.ts", ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("error", fail);
    child.on("close", (status) => ok({ status, stdout, stderr }));
  });
}

test("`run.ts data fetch gsm8k` as a process: JSON summary on stdout, progress on stderr, files in --data-dir", async () => {
  const dataDir = path.join(tmp, "datasets-cli");
  const run = (endpoint: string, cache: string, env: Record<string, string> = {}) =>
    runCli(["data", "fetch", "gsm8k", "--data-dir", dataDir], {
      HF_ENDPOINT: endpoint,
      HF_HUB_CACHE: path.join(tmp, cache),
      ...env,
    });
  const r = await run(hub.url, "cache-cli");
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.trim().split("\n");
  assert.equal(out.length, 1, `stdout is one JSON line: ${r.stdout}`);
  assert.deepEqual(JSON.parse(out[0]!), {
    task: "gsm8k",
    repo: "openai/gsm8k",
    revision: "main",
    rows: { train: 2, test: 3 },
  });
  assert.match(r.stderr, /main\/train-00000-of-00001\.jsonl: 0\.0 MB 100%\n/);
  assert.match(r.stderr, /wrote 2 file\(s\) to .*gsm8k/);
  assert.equal(readManifest(path.join(dataDir, "gsm8k"))!.files.length, 2);

  // One retry, not the default four with backoff (seconds of waiting; the retries are tested in src/hub-fetch.test.ts).
  const bad = await run(`http://127.0.0.1:${await closedPort()}`, "cache-cli-empty", { LORA_LAB_HUB_RETRIES: "1" });
  assert.equal(bad.status, 1, bad.stderr);
  assert.equal(bad.stdout, "");
  assert.match(bad.stderr, /^error: could not download dataset "openai\/gsm8k" from http:\/\/127\.0\.0\.1:\d+/m);
});
