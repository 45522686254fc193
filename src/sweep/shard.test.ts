// Static shards: disjoint, covering, fixed by the cell list; selection from --shard, Slurm's and Kubernetes' variables.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseShard, selectShard, shardCells } from "./shard.ts";

test("shards partition the cell list for several N", () => {
  for (const nCells of [0, 1, 7, 10, 23]) {
    const cells = Array.from({ length: nCells }, (_, i) => `c${i}`);
    for (const n of [1, 2, 3, 4, 5, 8, 30]) {
      const parts = Array.from({ length: n }, (_, i) => shardCells(cells, parseShard(`${i}/${n}`)));
      assert.deepEqual(parts.flat().sort(), [...cells].sort(), `${nCells} cells / ${n}: every cell once`);
      assert.equal(new Set(parts.flat()).size, nCells, "disjoint");
      const sizes = parts.map((p) => p.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, "balanced");
    }
  }
  assert.deepEqual(shardCells(["a", "b"], null), ["a", "b"]);
});

test("the shard comes from --shard, then SLURM_ARRAY_TASK_*, then JOB_COMPLETION_INDEX with --shards", () => {
  assert.deepEqual(selectShard({ shard: "1/4" }, { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "3" }), {
    index: 1,
    count: 4,
    source: "--shard",
  });
  assert.deepEqual(
    selectShard({}, { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "3", SLURM_ARRAY_TASK_MIN: "0" }),
    { index: 2, count: 3, source: "SLURM_ARRAY_TASK_ID" },
  );
  assert.deepEqual(
    selectShard({}, { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "4", SLURM_ARRAY_TASK_MIN: "2" }),
    { index: 3, count: 4, source: "SLURM_ARRAY_TASK_ID" },
  );
  assert.deepEqual(selectShard({ shards: 6 }, { JOB_COMPLETION_INDEX: "5" }), {
    index: 5,
    count: 6,
    source: "JOB_COMPLETION_INDEX",
  });
  assert.equal(selectShard({}, {}), null);
  assert.throws(() => selectShard({}, { JOB_COMPLETION_INDEX: "1" }), /pass --shards N/);
  assert.throws(() => selectShard({ shards: 2 }, { JOB_COMPLETION_INDEX: "2" }), /index must be 0 … 1/);
  assert.throws(() => selectShard({ shards: 3 }, {}), /--shards 3 needs JOB_COMPLETION_INDEX/);
  assert.throws(() => selectShard({}, { SLURM_ARRAY_TASK_ID: "1" }), /not a contiguous job array/);
});

test("bad --shard specs", () => {
  for (const [s, re] of [
    ["3/3", /index must be 0 … 2/],
    ["a/b", /expected I\/N/],
    ["1", /expected I\/N/],
    ["0/0", /N ≥ 1/],
    ["-1/2", /expected I\/N/],
  ] as const) {
    assert.throws(() => parseShard(s), re, s);
  }
});
