// Claims in one process (the multi-process behaviour is in src/cli/sweep-workers.test.ts): one holder at a time,
// a stale claim is taken over by exactly one newcomer and fences the old holder, release cleans up, the heartbeat
// thread refreshes the file, a claim folder that another worker removes between two of our calls is no error, and
// bad claim files or leases are clear errors.
import { mock, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import fsCjs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { checkLease, readClaim, tryClaim, type ClaimInfo } from "./claims.ts";
import { startHeartbeat } from "./heartbeat.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "claims-test-"));
const opts = { leaseSeconds: 60, totalSteps: 10 };

function age(file: string, seconds: number): void {
  const info = JSON.parse(fs.readFileSync(file, "utf8")) as ClaimInfo;
  fs.writeFileSync(file, JSON.stringify({ ...info, heartbeatAt: new Date(Date.now() - seconds * 1000).toISOString() }));
}

test("one holder at a time; a stale claim is taken over once and fences the old holder; release cleans up", () => {
  const a = tryClaim(tmp, "exp", "cell1", opts)!;
  assert.ok(a);
  assert.equal(a.info.generation, 0);
  assert.equal(tryClaim(tmp, "exp", "cell1", opts), null, "held");
  assert.equal(readClaim(tmp, "exp", "cell1", 60)!.stale, false);
  age(a.file, 120);
  assert.equal(readClaim(tmp, "exp", "cell1", 60)!.stale, true);
  const b = tryClaim(tmp, "exp", "cell1", opts)!;
  assert.equal(b.info.generation, 1);
  assert.equal(tryClaim(tmp, "exp", "cell1", opts), null, "only one newcomer wins the stale claim");
  assert.equal(a.lost(), true, "the old holder sees the newer generation");
  assert.equal(a.heartbeat(3), false, "and its heartbeat refuses to refresh");
  assert.equal(b.lost(), false);
  assert.equal(b.heartbeat(4), true);
  assert.equal(readClaim(tmp, "exp", "cell1", 60)!.info.step, 4);
  b.release();
  assert.ok(!fs.existsSync(path.join(tmp, "exp", ".claims", "cell1")), "released: the folder is gone");
  assert.equal(readClaim(tmp, "exp", "cell1", 60), null);
  assert.ok(tryClaim(tmp, "exp", "cell1", opts), "free again");
});

test("a claim of a process of this host that has exited is stale at once, whatever the lease", () => {
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
  const c = tryClaim(tmp, "exp", "cell4", opts)!;
  const info = JSON.parse(fs.readFileSync(c.file, "utf8")) as ClaimInfo;
  fs.writeFileSync(c.file, JSON.stringify({ ...info, pid: dead }));
  assert.equal(readClaim(tmp, "exp", "cell4", 3600)!.stale, true);
  fs.writeFileSync(c.file, JSON.stringify({ ...info, pid: dead, host: "another-host" }));
  assert.equal(readClaim(tmp, "exp", "cell4", 3600)!.stale, false, "another host's pid says nothing");
  c.release();
});

test("the heartbeat thread refreshes the claim while the main thread is busy", async () => {
  const c = tryClaim(tmp, "exp", "cell2", opts)!;
  age(c.file, 30);
  const hb = startHeartbeat(c, 0.05);
  hb.setStep(7);
  // A busy main thread (no timer of this thread can run) reads the claim until the thread has refreshed it; the
  // thread may take a while to start on a loaded machine, hence a generous bound rather than a fixed wait.
  const t0 = Date.now();
  let v = readClaim(tmp, "exp", "cell2", 60)!;
  while (v.ageSeconds >= 1 && Date.now() - t0 < 20_000) v = readClaim(tmp, "exp", "cell2", 60)!;
  assert.ok(v.ageSeconds < 1, `heartbeat age ${v.ageSeconds}`);
  assert.equal(v.info.step, 7);
  assert.equal(hb.lost(), false);
  await hb.stop();
  c.release();
});

test("a claim file that is not JSON and a lease ≤ 0 are clear errors", () => {
  const dir = path.join(tmp, "exp", ".claims", "cell3");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "g000000.json"), "{not json");
  assert.throws(
    () => tryClaim(tmp, "exp", "cell3", opts),
    /g000000\.json: the claim file is not valid JSON .*delete the file; no result was touched/,
  );
  assert.throws(() => checkLease(0), /--lease 0: the lease must be a positive number/);
  assert.throws(() => checkLease(-5), /--lease -5/);
  assert.throws(() => checkLease(NaN), /--lease NaN/);
  assert.equal(checkLease(0.5), 0.5);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * Runs f with fs[name] throwing ENOENT for paths under `under` after its first `after` such calls (as if another
 * worker had just removed the folder).
 */
function withVanished<T>(name: "readdirSync" | "openSync", under: string, f: () => T, after = 0): T {
  const real = fsCjs[name] as (...a: unknown[]) => unknown;
  let seen = 0;
  const m = mock.method(fsCjs, name, (...a: unknown[]) => {
    if (String(a[0]).startsWith(under) && seen++ >= after)
      throw Object.assign(new Error(`ENOENT: no such file or directory, ${name} '${String(a[0])}'`), {
        code: "ENOENT",
      });
    return real.apply(fsCjs, a);
  });
  syncBuiltinESMExports();
  try {
    return f();
  } finally {
    m.mock.restore();
    syncBuiltinESMExports();
  }
}

test("a claim folder removed by another worker mid-call: release and the scans see no claim, tryClaim says held", () => {
  const dir = path.join(tmp, "exp", ".claims", "cell-vanish");
  const a = tryClaim(tmp, "exp", "cell-vanish", opts)!;
  // release(): its own generation is found and removed (first listing), then the folder is listed again for
  // heartbeat temp files: gone by then.
  withVanished("readdirSync", dir, () => a.release(), 1);
  assert.ok(!fs.existsSync(path.join(dir, "g000000.json")), "its generation was removed");
  assert.equal(
    withVanished("readdirSync", dir, () => readClaim(tmp, "exp", "cell-vanish", 60)),
    null,
  );
  // tryClaim(): mkdir succeeded, then the folder vanished before the claim's temp file was written.
  assert.equal(
    withVanished("openSync", dir, () => tryClaim(tmp, "exp", "cell-vanish", opts)),
    null,
  );
  assert.ok(tryClaim(tmp, "exp", "cell-vanish", opts), "the next pass takes it");
});
