// `npm run test:unit`: the fast test tier, for the edit loop. It runs every *.test.ts under src/, experiments/ and
// tools/ except the slow tiers, which are named by their suffix (no list to maintain):
//   *.e2e.test.ts      trains or runs a command end to end, or starts subprocesses
//   *.golden.test.ts   numbers against committed fixtures (PyTorch logits, gradients and trajectories; report tables)
//   *.browser.test.ts  the report page in headless Chromium
// `npm test` runs all tiers, one process per file (what CI runs). Here the selected files are imported into ONE
// process, where node:test collects and runs their tests: that saves the ~2 s of tfjs start-up per file. So a unit
// test must not rely on process-global state that another file leaves behind: it starts its own backend
// (initBackend), frees what it makes, and measures tensor counts against its own baseline.
// Arguments keep only the files whose path contains one of them: `npm run test:unit -- src/optim lora`.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SLOW_TIER = /\.(e2e|golden|browser)\.test\.ts$/;

const files = ["src", "experiments", "tools"]
  .flatMap((dir) => fs.readdirSync(path.join(root, dir), { recursive: true }).map((f) => path.join(dir, String(f))))
  .filter((f) => f.endsWith(".test.ts") && !SLOW_TIER.test(f) && !f.split(path.sep).includes("node_modules"))
  .sort();
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error(
    `test:unit: no unit test file matches ${filters.join(" ")} (slow tiers *.e2e/golden/browser.test.ts: npm test)`,
  );
  process.exit(1);
}
for (const f of selected) await import(pathToFileURL(path.join(root, f)).href);
