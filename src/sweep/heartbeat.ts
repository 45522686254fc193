// The claim's heartbeat runs on its own thread: training steps and evaluations are synchronous stretches of the main
// thread (minutes for a large evaluation), and a heartbeat timer there would starve until the lease ran out. The
// main thread shares the current step through a SharedArrayBuffer; the thread refreshes the claim file every
// interval and raises the "lost" flag when a newer claim generation appears (another worker took the cell over).
import { Worker } from "node:worker_threads";
import type { Claim } from "./claims.ts";

const STEP = 0,
  LOST = 1,
  STOPPED = 2;

// Plain CommonJS so the thread needs no TypeScript loader. Same file layout as claims.ts (g<6 digits>.json).
const THREAD_SOURCE = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const path = require("node:path");
const { file, info, intervalMs, shared } = workerData;
const dir = path.dirname(file);
const flags = new Int32Array(shared);
function newerExists() {
  try {
    return fs.readdirSync(dir).some((n) => { const m = /^g(\\d{6})\\.json$/.exec(n); return m && Number(m[1]) > info.generation; });
  } catch { return false; }
}
function beat() {
  if (Atomics.load(flags, ${STOPPED})) return;
  if (newerExists()) { Atomics.store(flags, ${LOST}, 1); return; }
  info.step = Atomics.load(flags, ${STEP});
  info.heartbeatAt = new Date().toISOString();
  const tmp = file + ".hb-" + process.pid + "-" + Math.random().toString(16).slice(2);
  try { fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + "\\n"); fs.renameSync(tmp, file); }
  catch { try { fs.rmSync(tmp, { force: true }); } catch {} }
}
setInterval(beat, intervalMs);
`;

export interface Heartbeat {
  /** Record the step the cell has reached (sent with the next heartbeat). */
  setStep(step: number): void;
  /** True once a newer generation of the claim exists: stop working on the cell. */
  lost(): boolean;
  stop(): Promise<void>;
}

/** Start refreshing `claim` every `intervalSeconds` on a separate thread. */
export function startHeartbeat(claim: Claim, intervalSeconds: number): Heartbeat {
  const shared = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
  const flags = new Int32Array(shared);
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: {
      file: claim.file,
      info: claim.info,
      intervalMs: Math.max(50, Math.round(intervalSeconds * 1000)),
      shared,
    },
  });
  worker.unref();
  return {
    setStep: (step) => void Atomics.store(flags, STEP, step),
    lost: () => Atomics.load(flags, LOST) === 1,
    async stop() {
      Atomics.store(flags, STOPPED, 1);
      await worker.terminate();
    },
  };
}
