// Progress display and Ctrl-C handling shared by `train` and `sweep`: the first SIGINT asks the running step to
// finish and checkpoint (the run ends "interrupted" and resumes with the same command); a second one exits at once.
import type { StepProgress } from "../train/recipe.ts";

export function installInterruptHandler(): { signal: AbortSignal; dispose: () => void } {
  const ctl = new AbortController();
  // The abort reason is the signal's name: `sweep` exits 75 ("retry") after SIGTERM (a scheduler's preemption or
  // time limit) and 130 after Ctrl-C.
  const onSig = (name: NodeJS.Signals) => {
    if (ctl.signal.aborted) {
      console.error("\nsecond interrupt: exiting now (the last checkpoint is kept)");
      process.exit(130);
    }
    console.error(
      `\n${name === "SIGTERM" ? "SIGTERM" : "interrupt"}: finishing the current step and writing a checkpoint (Ctrl-C again to exit at once)`,
    );
    ctl.abort(name);
  };
  const onInt = () => onSig("SIGINT"),
    onTerm = () => onSig("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return {
    signal: ctl.signal,
    dispose: () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    },
  };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s < 730 * 86400) return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, "0")}h`;
  return `${(s / (365 * 86400)).toFixed(0)} years`;
}

export function formatProgressLine(runId: string, p: StepProgress): string {
  const eta = p.step > 0 ? (p.elapsedSeconds / p.step) * (p.totalSteps - p.step) : NaN;
  return `${runId}  step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(4)}  ${Math.round(p.tokensPerSec)} tok/s  ETA ${formatDuration(eta)}`;
}
