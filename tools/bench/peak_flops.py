#!/usr/bin/python3
# The machine's fp32 matmul peak for `run.ts bench`'s MFU column: median of 7 sgemm 2048³ through torch.matmul
# (OpenBLAS), with all cores and with one core. One sgemm call is parallel only inside OpenBLAS, so the all-core
# figure needs OPENBLAS_NUM_THREADS = cpu count (torch's own threads do not split a single matmul); the one-core
# figure is measured in a child process with OPENBLAS_NUM_THREADS=1. Follows docs/engine.md §7
# (163.7 GFLOP/s on 2 cores, 85.3 on one, on the project's machine).
# Usage: /usr/bin/python3 tools/bench/peak_flops.py [N]; prints {"allCores": GFLOP/s, "oneCore": GFLOP/s, "blas": ...}.
import os
import subprocess
import sys

ONE = "--one-core" in sys.argv
os.environ["OPENBLAS_NUM_THREADS"] = "1" if ONE else str(os.cpu_count() or 1)

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import detect_blas  # noqa: E402


def gflops(n, threads):
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    ts = []
    for _ in range(7):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(ts) / 1e9


args = [a for a in sys.argv[1:] if not a.startswith("--")]
n = int(args[0]) if args else 2048
if ONE:
    print(json.dumps({"oneCore": gflops(n, 1)}))
else:
    one = json.loads(subprocess.run([sys.executable, os.path.abspath(__file__), str(n), "--one-core"], capture_output=True, text=True, check=True).stdout)
    print(json.dumps({"allCores": gflops(n, 1), "oneCore": one["oneCore"], "blas": detect_blas()[0], "n": n}))
