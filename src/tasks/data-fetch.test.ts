// `data fetch` end to end against a fake hub (src/testing/fake-hub.ts, a real HTTP server in the hub's URL layout):
// the ARC-Easy parquet splits of allenai/ai2_arc are downloaded into the HF cache (HF_ENDPOINT, HF_HUB_CACHE),
// copied to <dataDir>/arc_easy/hub/…, recorded with sha256 in MANIFEST.json, and read back by loadDocs; a second
// fetch downloads nothing; a repo the hub does not have is a clear error that writes nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FakeHub, commitSha } from "../testing/fake-hub.ts";
import { fetchTaskData } from "./data-admin.ts";
import { loadDocs } from "./load.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const parquet = fs.readFileSync(path.join(here, "fixtures/arc-hub-test.parquet"));
const files = new Map<string, Buffer>([
  ["ARC-Easy/train-00000-of-00001.parquet", parquet],
  ["ARC-Easy/validation-00000-of-00001.parquet", parquet],
  ["ARC-Easy/test-00000-of-00001.parquet", parquet],
  ["ARC-Challenge/test-00000-of-00001.parquet", Buffer.alloc(10, 1)], // another config: must not be fetched
  ["README.md", Buffer.from("# ai2_arc\n")],
]);
const hub = new FakeHub(new Map([["datasets/allenai/ai2_arc", { sha: commitSha("arc-commit"), files }]]));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "data-fetch-"));
const savedEnv = { ...process.env };

before(async () => {
  await hub.start();
  for (const k of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HOME"]) delete process.env[k];
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = path.join(tmp, "cache");
});
after(async () => {
  await hub.stop();
  process.env = savedEnv;
});

test("data fetch arc_easy: files land where loadDocs finds them, with sha256s; a second fetch downloads nothing", async () => {
  const dataDir = path.join(tmp, "datasets");
  const manifest = await fetchTaskData("arc_easy", { dataDir });
  const taskDir = path.join(dataDir, "arc_easy");
  const fetched = hub.fileRequests();
  // The three splits share one fixture file, so the cache stores one blob (keyed by its ETag) and links it thrice.
  assert.ok(fetched.some((u) => u.includes("ARC-Easy/")), fetched.join("\n"));
  assert.ok(!fetched.some((u) => u.includes("ARC-Challenge") || u.includes("README")), "only this config's data files");
  const onDisk = JSON.parse(fs.readFileSync(path.join(taskDir, "MANIFEST.json"), "utf8")) as typeof manifest;
  assert.deepEqual(onDisk, manifest);
  const expected = crypto.createHash("sha256").update(parquet).digest("hex");
  // Only the splits the task uses (train, and test for evaluation) are fetched.
  assert.ok(!fs.existsSync(path.join(taskDir, "hub/ARC-Easy/validation-00000-of-00001.parquet")));
  for (const split of ["train", "test"]) {
    const rel = `hub/ARC-Easy/${split}-00000-of-00001.parquet`;
    assert.ok(fs.existsSync(path.join(taskDir, rel)), `${split} file copied`);
    const entry = manifest.files.find((f) => f.path.split(path.sep).join("/").endsWith(rel));
    assert.equal(entry?.sha256, expected, `manifest records ${rel} with its sha256`);
  }
  const docs = await loadDocs("arc_easy", "test", dataDir);
  assert.ok(docs.docs.length > 0);
  assert.ok(docs.files.some((f) => f.includes(path.join("hub", "ARC-Easy", "test-00000-of-00001.parquet"))), docs.files.join(", "));

  const before2 = hub.fileRequests().length;
  await fetchTaskData("arc_easy", { dataDir });
  assert.equal(hub.fileRequests().length, before2, "served from the HF cache");
});

test("a dataset the hub does not have is a clear error and writes nothing", async () => {
  const dataDir = path.join(tmp, "datasets-404");
  await assert.rejects(fetchTaskData("openbookqa", { dataDir }), /allenai\/openbookqa|not found|404/i);
  assert.ok(!fs.existsSync(path.join(dataDir, "openbookqa")), "nothing written");
});
