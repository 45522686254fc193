// Public face of src/tasks: the registry (TASKS, TASK_NAMES, getTask), data loading and training examples.
export { TASKS, MERGED_QA, getTask, isTaskName, UnknownTaskError } from "./registry.ts";
export { TASK_NAMES, QA_TASK_NAMES, SPLIT_NAMES, toTrainingExample } from "./types.ts";
export type {
  TaskName,
  TaskSpec,
  SplitName,
  TrainExample,
  MultipleChoiceTask,
  GenerateTask,
  TrainOnlyTask,
} from "./types.ts";
export {
  loadDocs,
  loadTrainExamples,
  trainExamples,
  subsampleIndices,
  locateSplit,
  resolveTaskDir,
  MissingDataError,
} from "./load.ts";
export type { LoadedSplit, TrainExamplesResult } from "./load.ts";
export { DataFileError } from "./readers.ts";
