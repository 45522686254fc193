// Learning-rate schedules with linear warmup, as Hugging Face transformers' get_constant_schedule_with_warmup,
// get_linear_schedule_with_warmup and get_cosine_schedule_with_warmup (num_cycles = 0.5). `step` is the 0-based
// optimizer step: the lr used by the (step+1)-th update, i.e. HF's LambdaLR value before scheduler.step() is called
// that many times (so with warmup the first update uses lr = 0, exactly like the HF Trainer).

export type ScheduleName = "constant" | "linear" | "cosine";

export interface ScheduleSpec {
  readonly lr: number;
  readonly warmupSteps: number;
  readonly schedule: ScheduleName;
  readonly totalSteps: number;
}

export function lrAt(step: number, s: ScheduleSpec): number {
  if (step < s.warmupSteps) return (s.lr * step) / Math.max(1, s.warmupSteps);
  switch (s.schedule) {
    case "constant":
      return s.lr;
    case "linear":
      return s.lr * Math.max(0, (s.totalSteps - step) / Math.max(1, s.totalSteps - s.warmupSteps));
    case "cosine": {
      const progress = (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
      return s.lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
    }
    default: {
      const never: never = s.schedule;
      throw new Error(`schedule: unknown schedule "${String(never)}" (use constant, linear or cosine)`);
    }
  }
}
