// Download faults against real local servers: a server that accepts the connection and never answers (connect
// timeout, retries, a clear error in seconds instead of a hang), a transfer cut mid-file (resumed with a Range
// request within the same call), a stalled transfer (idle timeout, then resumed), and a transfer cut in one run and
// resumed by the next from the partial file. The downloaded bytes must equal the repo's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { resolveModel } from "./hub.ts";
import { FakeHub, commitSha } from "./testing/fake-hub.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hub-fetch-test-"));
const weights = crypto.randomBytes(256 * 1024);
// A valid safetensors header in front of random bytes is not needed: these tests look at bytes, not tensors.
const files = new Map<string, Buffer>([
  ["config.json", Buffer.from(JSON.stringify({ model_type: "llama", hidden_size: 2, vocab_size: 4 }))],
  ["model.safetensors", weights],
  ["tokenizer.json", Buffer.from('{"model":{"type":"BPE","vocab":{},"merges":[]}}')],
]);
const hub = new FakeHub(new Map([["models/org/m", { sha: commitSha("m"), files }]]));

/** A proxy in front of the fake hub that misbehaves on model.safetensors downloads as `mode` says. */
let mode: { kind: "cut" | "stall"; times: number; after: number } | null = null;
const ranges: (string | undefined)[] = [];
const proxy = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const up = http.request(hub.url + req.url, { method: req.method, headers: req.headers }, (ur) => {
      const body: Buffer[] = [];
      ur.on("data", (c) => body.push(c));
      ur.on("end", () => {
        const all = Buffer.concat(body);
        // (@huggingface/hub first probes with "Range: bytes=0-0"; that request is left alone.)
        const isWeights =
          req.method === "GET" && req.url!.endsWith("/model.safetensors") && req.headers.range !== "bytes=0-0";
        if (isWeights) ranges.push(req.headers.range);
        res.writeHead(ur.statusCode!, ur.headers);
        if (isWeights && mode && mode.times > 0) {
          mode.times--;
          res.write(all.subarray(0, mode.after));
          if (mode.kind === "cut") setTimeout(() => res.socket?.destroy(), 20);
          return; // "stall": headers and some bytes, then silence
        }
        res.end(all);
      });
    });
    up.end(Buffer.concat(chunks));
  });
});
let proxyUrl = "";
const quick = { connectTimeoutSeconds: 2, idleTimeoutSeconds: 0.5, backoffSeconds: 0.05, retries: 3 };
const logs: string[] = [];

before(async () => {
  await hub.start();
  await new Promise<void>((ok) => proxy.listen(0, "127.0.0.1", ok));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
});
after(async () => {
  proxy.closeAllConnections();
  await new Promise((ok) => proxy.close(ok));
  await hub.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function cache(name: string): string {
  return path.join(tmp, name);
}

test("a server that accepts the connection and never answers: a clear error after the connect timeout and retries", async () => {
  let connections = 0;
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => {
    connections++;
    sockets.push(s);
    s.on("error", () => {});
  });
  await new Promise<void>((ok) => silent.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  const t0 = Date.now();
  await assert.rejects(
    resolveModel("org/m", {
      cacheDir: cache("silent"),
      hubUrl: url,
      fetchOptions: { connectTimeoutSeconds: 0.3, retries: 2, backoffSeconds: 0.05, log: () => {} },
    }),
    /could not download model "org\/m" from http:\/\/127\.0\.0\.1:\d+ .*no answer within 0\.3 s/,
  );
  assert.ok(Date.now() - t0 < 5000, "gave up in seconds");
  assert.equal(connections, 3, "first try + 2 retries");
  for (const s of sockets) s.destroy();
  await new Promise((ok) => silent.close(ok));
});

for (const kind of ["cut", "stall"] as const) {
  test(`a transfer ${kind === "cut" ? "cut" : "stalled"} mid-file is resumed with a Range request`, async () => {
    ranges.length = 0;
    mode = { kind, times: 1, after: 100_000 };
    const dir = await resolveModel("org/m", {
      cacheDir: cache(kind),
      hubUrl: proxyUrl,
      fetchOptions: { ...quick, log: (m) => logs.push(m) },
    });
    assert.ok(fs.readFileSync(path.join(dir, "model.safetensors")).equals(weights), "the bytes are the repo's");
    assert.deepEqual(ranges, [undefined, "bytes=100000-"], "the second request asks only for the rest");
    assert.ok(
      logs.some((l) => /resuming model\.safetensors at 100000 of 262144 bytes/.test(l)),
      logs.join("\n"),
    );
    assert.deepEqual(fs.readdirSync(path.join(cache(kind), ".lora-lab-partial")), [], "the partial file is gone");
  });
}

test("a transfer cut in one run is resumed by the next run from the partial file", async () => {
  ranges.length = 0;
  mode = { kind: "cut", times: 1, after: 150_000 };
  const c = cache("two-runs");
  await assert.rejects(
    resolveModel("org/m", { cacheDir: c, hubUrl: proxyUrl, fetchOptions: { ...quick, retries: 0, log: () => {} } }),
    /stopped at 150000 of 262144 bytes|could not download/,
  );
  const partial = fs.readdirSync(path.join(c, ".lora-lab-partial"));
  assert.equal(partial.filter((f) => f.endsWith(".part")).length, 1);
  const dir = await resolveModel("org/m", { cacheDir: c, hubUrl: proxyUrl, fetchOptions: { ...quick, log: () => {} } });
  assert.ok(fs.readFileSync(path.join(dir, "model.safetensors")).equals(weights));
  assert.deepEqual(ranges, [undefined, "bytes=150000-"]);
});
