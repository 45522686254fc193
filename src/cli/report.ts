// `report <experiment>`: regenerate reports/<experiment>/ (tables, figures, index.html) from results/ only.
// Works while a sweep is still running; prints what is missing instead of failing. `--results-dir` may be given
// several times (folders copied back from clusters without a shared filesystem): their runs are merged.
import * as fs from "node:fs";
import * as path from "node:path";
import type { CommandModule } from "yargs";
import { asList } from "./common.ts";

export const reportCommand: CommandModule = {
  command: "report <experiment>",
  describe: "regenerate tables and plots of an experiment from results/ (no models needed)",
  builder: (y) =>
    y
      .positional("experiment", {
        type: "string",
        demandOption: true,
        describe: "experiment name (folder under results/)",
      })
      .option("reports-dir", { type: "string", default: "reports", describe: "where report folders are written" })
      .option("plots", { type: "boolean", default: true, describe: "render figures (--no-plots: tables only)" }),
  handler: async (argv) => {
    const { renderReport } = await import("../report/render.ts");
    const t0 = Date.now();
    const resultsDirs = asList(argv["results-dir"] ?? "results");
    const experiment = String(argv.experiment);
    // An unknown name (a typo) must not "succeed" with an empty report.
    if (!resultsDirs.some((d) => fs.existsSync(path.join(d, experiment)))) {
      console.error(
        `error: no results for experiment "${experiment}" in ${resultsDirs.join(", ")}: check the name, or run \`sweep ${experiment}\` first`,
      );
      process.exitCode = 2;
      return;
    }
    const res = await renderReport({
      experiment,
      resultsDir: resultsDirs,
      reportsDir: String(argv["reports-dir"] ?? "reports"),
      noPlots: argv.plots === false,
    });
    for (const w of res.warnings) console.warn(`warning: ${w}`);
    console.log(
      `report: ${res.tables.length} tables, ${res.plots.length} figures in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${res.dir}/index.html`,
    );
  },
};
