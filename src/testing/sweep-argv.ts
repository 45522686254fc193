// The node arguments of a `sweep` process as the end-to-end tests start it (experiments/run.ts under tsx, on wasm):
// `--set` and `--only` lists, then any further flags. One place, so the process tests of workers, resume and Slurm
// spell the command the same way a user types it.
export interface SweepArgv {
  experiment?: string;
  set?: readonly string[];
  only?: readonly string[];
  /** Further flags after the sweep's own (results and data folders, --lease, --slurm …). */
  extra?: readonly string[];
}

/** ["--import", "tsx", "experiments/run.ts", "sweep", <experiment>, --set …, --only …, --backend wasm, …extra]. */
export function sweepArgv(a: SweepArgv): string[] {
  return [
    "--import",
    "tsx",
    "experiments/run.ts",
    "sweep",
    a.experiment ?? "quickstart",
    ...(a.set ?? []).flatMap((s) => ["--set", s]),
    ...(a.only ?? []).flatMap((o) => ["--only", o]),
    "--backend",
    "wasm",
    ...(a.extra ?? []),
  ];
}
