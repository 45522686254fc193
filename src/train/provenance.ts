// Where a number came from: git commit (and whether the tree was dirty), package versions, backend, Node, machine.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { BackendInfo } from "../backend.ts";
import type { Provenance } from "../results.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PACKAGES = [
  "@tensorflow/tfjs",
  "@tensorflow/tfjs-core",
  "@tensorflow/tfjs-backend-wasm",
  "@tensorflow/tfjs-backend-webgpu",
  "webgpu",
  "@tensorflow/tfjs-node",
  "@tensorflow/tfjs-node-gpu",
  "@huggingface/transformers",
  "@huggingface/hub",
];

function git(args: string[]): string | null {
  try {
    return execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

let cached: Omit<Provenance, "backend"> | undefined;

export function provenance(backend: BackendInfo): Provenance {
  if (!cached) {
    const packages: Record<string, string> = {};
    const own = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    packages["lora-lab"] = own.version;
    for (const p of PACKAGES) {
      try {
        packages[p] = (
          JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules", p, "package.json"), "utf8")) as {
            version: string;
          }
        ).version;
      } catch {
        // not installed (the optional native backends usually are not)
      }
    }
    const status = git(["status", "--porcelain", "--untracked-files=no"]);
    cached = {
      gitSha: git(["rev-parse", "HEAD"]),
      gitDirty: status === null ? null : status.length > 0,
      packages,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: os.cpus().length,
      hostname: os.hostname(),
    };
  }
  return {
    ...cached,
    backend: {
      name: backend.name,
      provider: backend.provider,
      detail: backend.detail,
      ...(backend.gpu ? { gpu: backend.gpu } : {}),
    },
  };
}

export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
