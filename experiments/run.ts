// lora-lab's one entry point. `tsx experiments/run.ts` with no command runs the offline `quickstart` experiment
// and its report; every other command is in src/cli/<command>.ts.
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { commonOptions } from "../src/cli/common.ts";
import { listCommand } from "../src/cli/list.ts";
import { scoreCommand } from "../src/cli/score.ts";
import { trainCommand } from "../src/cli/train.ts";
import { evalCommand } from "../src/cli/eval.ts";
import { dataCommand } from "../src/cli/data.ts";
import { sweepCommands } from "../src/cli/sweep.ts";
import { reportCommand } from "../src/cli/report.ts";
import { benchCommand } from "../src/cli/bench.ts";
import { selectGpuDevice } from "../src/backend.ts";
import { EXPERIMENTS } from "./index.ts";

await yargs(hideBin(process.argv))
  .scriptName("tsx experiments/run.ts")
  .usage("$0 [command]\n\nWith no command: run the offline `quickstart` experiment and write its report.")
  .options(commonOptions)
  .middleware((argv) => selectGpuDevice(argv.device))
  .command(sweepCommands(EXPERIMENTS))
  .command(trainCommand)
  .command(evalCommand)
  .command(scoreCommand)
  .command(reportCommand)
  .command(benchCommand)
  .command(dataCommand)
  .command(listCommand(EXPERIMENTS))
  .strict()
  .demandCommand(0)
  .recommendCommands()
  .fail((msg, err, y) => {
    if (err) {
      // Our own errors carry the file/field and the fix; print them without a stack unless LORA_LAB_DEBUG is set.
      console.error(`error: ${process.env.LORA_LAB_DEBUG ? (err.stack ?? err.message) : err.message}`);
    } else {
      console.error(`${msg}\n\nRun with --help for usage.`);
      void y;
    }
    process.exit(1);
  })
  .help()
  .wrap(Math.min(120, process.stdout.columns || 120))
  .parseAsync();
