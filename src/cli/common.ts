// Options shared by every command, and small helpers the command files use.
import type { Options } from "yargs";
import { BACKEND_CHOICES } from "../backend.ts";

export const commonOptions = {
  backend: {
    choices: BACKEND_CHOICES,
    default: "auto",
    global: true,
    describe: "tfjs backend: auto = tensorflow → webgpu (hardware adapters only) → wasm → cpu",
  },
  device: {
    type: "number",
    describe: "webgpu: index of the adapter to use where there are several (see `list`)",
    global: true,
  },
  "data-dir": { type: "string", describe: "where task datasets live (default: datasets/)", global: true },
  "results-dir": { type: "string", default: "results", describe: "where run folders are written", global: true },
  seed: { type: "number", describe: "random seed (overrides the config's)", global: true },
} as const satisfies Record<string, Options>;

/** `--set a.b=v` may be given several times; yargs gives a string or an array. */
export function asList(x: unknown): string[] {
  if (x === undefined || x === null) return [];
  return (Array.isArray(x) ? x : [x]).map(String);
}
