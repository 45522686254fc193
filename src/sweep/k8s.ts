// `sweep <exp> --k8s --print`: a Kubernetes Indexed Job (completionMode: Indexed, completions = shards). Each pod
// runs `sweep --shards N` and takes its shard from JOB_COMPLETION_INDEX; all pods share one results volume (a
// ReadWriteMany PersistentVolumeClaim), where claims keep a cell to one pod at a time. Exit code 75 (interrupted
// after a checkpoint) is ignored by the failure policy, so a preempted pod is retried without using up the
// backoff limit. Printed only; see docs/scale-out.md.
import { workerSweepArgs, type WorkerArgs } from "./worker-command.ts";
import { EXIT_CONFIG, EXIT_RETRY } from "./slurm.ts";

export interface K8sOptions {
  shards: number;
  image: string;
  parallelism?: number;
  gpus?: number;
  /** Where the results volume is mounted in the pod. */
  mountPath: string;
  claimName: string;
}

const q = (s: string) => JSON.stringify(s); // a JSON string is a valid YAML scalar

export function indexedJobManifest(a: WorkerArgs, o: K8sOptions): string {
  const name = `lora-lab-${a.experiment}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .slice(0, 52);
  const args = workerSweepArgs(
    { ...a, resultsDir: `${o.mountPath}/results`, dataDir: a.dataDir ? `${o.mountPath}/datasets` : undefined },
    ["--shards", String(o.shards)],
  );
  const lines = [
    "# Written by `sweep " + a.experiment + " --k8s --print`. Apply with: kubectl apply -f <this file>",
    "# The image must hold this repository (npm ci done) as its working directory; the PVC must be ReadWriteMany.",
    "apiVersion: batch/v1",
    "kind: Job",
    "metadata:",
    `  name: ${name}`,
    "spec:",
    "  completionMode: Indexed",
    `  completions: ${o.shards}`,
    `  parallelism: ${o.parallelism ?? o.shards}`,
    `  backoffLimit: ${Math.max(6, o.shards * 3)}`,
    "  podFailurePolicy:",
    "    rules:",
    "      - action: Ignore        # preempted after a checkpoint: retry, not a failure",
    "        onExitCodes: { containerName: sweep, operator: In, values: [" + EXIT_RETRY + "] }",
    "      - action: FailJob       # a configuration error: retrying cannot help",
    "        onExitCodes: { containerName: sweep, operator: In, values: [" + EXIT_CONFIG + "] }",
    "      - action: Ignore",
    "        onPodConditions: [{ type: DisruptionTarget }]",
    "  template:",
    "    spec:",
    "      restartPolicy: Never",
    "      terminationGracePeriodSeconds: 120",
    "      containers:",
    "        - name: sweep",
    `          image: ${q(o.image)}`,
    `          command: ["npx", "tsx", "experiments/run.ts"]`,
    `          args: [${args.map(q).join(", ")}]`,
    ...(o.gpus ? ["          resources:", "            limits:", `              nvidia.com/gpu: ${o.gpus}`] : []),
    "          volumeMounts:",
    `            - { name: results, mountPath: ${q(o.mountPath)} }`,
    "      volumes:",
    `        - name: results`,
    `          persistentVolumeClaim: { claimName: ${q(o.claimName)} }`,
    "",
  ];
  return lines.join("\n");
}
