// `data fetch <task>` (hub download into <data-dir>/<task>/hub/, progress on stderr, sha256 in MANIFEST.json),
// `data import <task> <path>` (copy a local file or folder in after validating every row) and `data list` (what is
// there: files and rows per split).
import type { Argv, CommandModule } from "yargs";

const DEFAULT_DATA_DIR = "datasets";

function dataDirOf(argv: Record<string, unknown>): string {
  return (argv["data-dir"] as string | undefined) ?? DEFAULT_DATA_DIR;
}

const fetchCommand: CommandModule = {
  command: "fetch <task>",
  describe: "download a task's dataset from the Hugging Face hub into <data-dir>/<task>/",
  builder: (y: Argv) => y.positional("task", { type: "string", describe: "task name (see `list`)" }),
  handler: async (argv) => {
    const { fetchTaskData } = await import("../tasks/data-admin.ts");
    const { stderrProgress } = await import("../hub.ts");
    const dataDir = dataDirOf(argv);
    const m = await fetchTaskData(String(argv.task), {
      dataDir,
      onProgress: stderrProgress(),
      log: (s) => console.error(s),
    });
    console.error(`wrote ${m.files.length} file(s) to ${dataDir}/${m.task}/ (sha256 in MANIFEST.json)`);
    console.log(JSON.stringify({ task: m.task, repo: m.repo, revision: m.revision, rows: m.rows }));
  },
};

const importCommand: CommandModule = {
  command: "import <task> <path>",
  describe: "copy a local file or folder of a task's data into <data-dir>/<task>/, validating every row",
  builder: (y: Argv) =>
    y
      .positional("task", { type: "string" })
      .positional("path", { type: "string", describe: "a data file (jsonl/json/parquet) or a folder" })
      .option("split", {
        choices: ["train", "validation", "test"] as const,
        describe: "for a single file: store it as this split",
      })
      .option("force", { type: "boolean", default: false, describe: "replace files that already exist" }),
  handler: async (argv) => {
    const { importTaskData } = await import("../tasks/data-admin.ts");
    const dataDir = dataDirOf(argv);
    const m = await importTaskData(String(argv.task), String(argv.path), {
      dataDir,
      split: argv.split as "train" | "validation" | "test" | undefined,
      force: !!argv.force,
    });
    console.error(
      `imported ${m.files.length} file(s) into ${dataDir}/${m.task}/; rows per split: ${JSON.stringify(m.rows)}`,
    );
    console.log(JSON.stringify({ task: m.task, rows: m.rows }));
  },
};

const listDataCommand: CommandModule = {
  command: "list [tasks..]",
  describe: "show which files each task reads from <data-dir> and how many rows each split has",
  builder: (y: Argv) => y.positional("tasks", { type: "string", array: true }),
  handler: async (argv) => {
    const { TASK_NAMES, getTask, locateSplit, loadDocs, MissingDataError } = await import("../tasks/index.ts");
    const dataDir = dataDirOf(argv);
    const names = (argv.tasks as string[] | undefined)?.length ? (argv.tasks as string[]) : [...TASK_NAMES];
    for (const name of names) {
      const task = getTask(name);
      const lines: string[] = [];
      for (const split of task.outputType === "train_only"
        ? (["train"] as const)
        : (["train", "validation", "test"] as const)) {
        try {
          const { files, note } = locateSplit(task, split, dataDir);
          const n = (await loadDocs(task, split, dataDir)).docs.length;
          lines.push(
            `  ${split.padEnd(10)} ${String(n).padStart(7)} rows  ${files.map((f) => f.file).join(", ")}${note ? `  (${note})` : ""}`,
          );
        } catch (e) {
          if (e instanceof MissingDataError) continue;
          lines.push(`  ${split.padEnd(10)} error: ${(e as Error).message}`);
        }
      }
      console.log(
        `${name}${lines.length ? "" : `: no data in ${dataDir} (run \`data fetch ${name}\` or \`data import ${name} <path>\`)`}`,
      );
      if (lines.length) console.log(lines.join("\n"));
    }
  },
};

export const dataCommand: CommandModule = {
  command: "data",
  describe: "get task datasets: fetch from the hub, import local files, list what is there",
  builder: (y: Argv) => y.command(fetchCommand).command(importCommand).command(listDataCommand).demandCommand(1),
  handler: () => {},
};
