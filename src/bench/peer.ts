// The PyTorch peer of `bench` (tools/bench/torch_peer.py and peak_flops.py) run through Debian's /usr/bin/python3
// (or $LORA_LAB_PYTHON): found once, skipped with a reason when python or torch is missing, loud when torch runs on
// the reference BLAS (docs/engine.md §7: 20× slower, the ratio would be meaningless).
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { toHfConfigJson, type ModelConfig } from "../models/model-config.ts";
import type { BenchCase } from "./cases.ts";
import type { PeerResult } from "./types.ts";

export const TOOLS_DIR = path.resolve(import.meta.dirname, "../../tools/bench");

export function pythonPath(): string {
  return process.env.LORA_LAB_PYTHON ?? "/usr/bin/python3";
}

/** null when `python -c "import torch"` works, else why not. */
export function peerUnavailable(python = pythonPath()): string | null {
  const r = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8", timeout: 120_000 });
  if (r.error) return `${python} not runnable (${r.error.message})`;
  if (r.status !== 0)
    return `${python} has no torch (${(r.stderr || "").trim().split("\n").pop()}); on Debian: apt-get install python3-torch libopenblas0-pthread`;
  return null;
}

function lastJsonLine<T>(stdout: string): T | null {
  const line = stdout
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .pop();
  if (!line) return null;
  try {
    return JSON.parse(line) as T;
  } catch {
    return null;
  }
}

export type PeerOutcome = { ok: true; result: PeerResult } | { ok: false; reason: string };

/** Run the torch peer on the case's shapes (random weights, same config.json fields, batch, LoRA). */
export function runPeer(
  c: BenchCase,
  config: ModelConfig,
  batch: number,
  steps: number,
  timeoutSec = 1800,
): PeerOutcome {
  const job = {
    model: toHfConfigJson(config),
    batch,
    seqLen: c.seqLen,
    r: c.r,
    alpha: c.alpha,
    targets: c.targets,
    steps,
    forwardSteps: steps,
    warmup: c.warmup,
    seed: 0,
  };
  const r = spawnSync(pythonPath(), [path.join(TOOLS_DIR, "torch_peer.py"), JSON.stringify(job)], {
    encoding: "utf8",
    timeout: timeoutSec * 1000,
    maxBuffer: 64 << 20,
  });
  if (r.stderr?.includes("REFERENCE BLAS")) process.stderr.write(r.stderr);
  const out = lastJsonLine<PeerResult>(r.stdout ?? "");
  if (!out)
    return {
      ok: false,
      reason: `torch_peer.py exited ${r.status ?? r.signal}: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-2).join(" ")}`,
    };
  return { ok: true, result: out };
}

export function measurePeak(): { allCores: number; oneCore: number; blas: string } | null {
  const r = spawnSync(pythonPath(), [path.join(TOOLS_DIR, "peak_flops.py")], { encoding: "utf8", timeout: 300_000 });
  return lastJsonLine(r.stdout ?? "");
}
