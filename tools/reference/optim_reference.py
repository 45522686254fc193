"""Golden trajectories for src/optim/optim.golden.test.ts: a small real LoRA problem (two LoRA linear layers with a
tanh between, different in/out dims, r = 4, squared error against fixed targets), 5 full-batch steps of each
reference optimizer in tools/reference/optimizers.py, in float64. Writes src/optim/fixtures/optim-golden.json with
the inputs, the initial adapters, each case's config and learning rates, the final A, B and per-step stats.
Run:  /usr/bin/python3 tools/reference/optim_reference.py   (from the repository root; torch 1.13)."""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optimizers import make_optimizer  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "optim", "fixtures", "optim-golden.json")

N, D0, D1, D2, R, ALPHA = 16, 12, 10, 6, 4, 8.0
SCALING = ALPHA / R
STEPS = 5

BASE = dict(name="adamw", lr=1e-2, weightDecay=0.0, betas=[0.9, 0.999], eps=1e-8, **{"lambda": 0.0}, stopCondition=True,
            lrRatio=16.0, delta=1e-6, clipUnmagnifiedGrad=1.0, updateSkipping=1.0, updateCapping=0.0, applyEscape=False)

# (case name, config overrides, initial adapter: "random" = the problem's B0 (nonzero), "peft" = B0 = 0)
CASES = [
    ("adamw", dict(name="adamw", weightDecay=0.01), "random"),
    ("adamw-peft-init", dict(name="adamw"), "peft"),
    ("lora-plus", dict(name="lora-plus", lrRatio=4.0, weightDecay=0.01), "random"),
    ("riemannian", dict(name="riemannian", weightDecay=0.01), "random"),
    ("riemannian-peft-init", dict(name="riemannian", delta=1e-6), "peft"),
    ("lora-rite", dict(name="lora-rite", eps=1e-6), "random"),
    ("lora-rite-clip-wd-cap-escape", dict(name="lora-rite", eps=1e-6, clipUnmagnifiedGrad=0.05, weightDecay=0.01,
                                          updateCapping=0.5, applyEscape=True, betas=[0.8, 0.95]), "random"),
    ("lora-rite-skip", dict(name="lora-rite", eps=1e-6, updateSkipping=0.1), "random"),
    ("lora-rite-peft-init", dict(name="lora-rite", eps=1e-6), "peft"),
    ("stable-lora", dict(name="stable-lora", **{"lambda": 0.12}, weightDecay=0.01), "random"),
    ("stable-lora-peft-init", dict(name="stable-lora", **{"lambda": 0.05}), "peft"),
    ("stable-lora-no-stop", dict(name="stable-lora", **{"lambda": 0.08}, stopCondition=False), "random"),
]


def problem():
    g = torch.Generator().manual_seed(20260305)
    x = torch.randn(N, D0, generator=g)
    W1 = torch.randn(D1, D0, generator=g) / math.sqrt(D0)
    W2 = torch.randn(D2, D1, generator=g) / math.sqrt(D1)
    target = 0.5 * torch.randn(N, D2, generator=g)
    A0 = [(torch.rand(R, n, generator=g) * 2 - 1) / math.sqrt(n) for n in (D0, D1)]
    B0 = [0.15 * torch.randn(m, R, generator=g) for m in (D1, D2)]
    return x, W1, W2, target, A0, B0


def loss_fn(x, W1, W2, target, pairs):
    (A1, B1), (A2, B2) = pairs
    h = torch.tanh(x @ W1.T + SCALING * (x @ A1.T) @ B1.T)
    y = h @ W2.T + SCALING * (h @ A2.T) @ B2.T
    return ((y - target) ** 2).mean()


def run_case(name, overrides, init, data):
    x, W1, W2, target, A0, B0 = data
    cfg = dict(BASE, **overrides)
    B_init = B0 if init == "random" else [torch.zeros_like(b) for b in B0]
    pairs = [(A0[i].clone().requires_grad_(True), B_init[i].clone().requires_grad_(True)) for i in range(2)]
    opt = make_optimizer(cfg, pairs)
    lrs = [cfg["lr"] * (1.0 - 0.15 * k) for k in range(STEPS)]  # a decaying schedule, so lr handling is checked
    stats, losses = [], []
    for lr in lrs:
        for p in (q for pair in pairs for q in pair):
            p.grad = None
        loss = loss_fn(x, W1, W2, target, pairs)
        loss.backward()
        losses.append(float(loss))
        stats.append(opt.step(lr))
    return {
        "name": name, "config": cfg, "init": init, "lrs": lrs, "losses": losses, "stats": stats,
        "A": [a.detach().tolist() for a, _ in pairs], "B": [b.detach().tolist() for _, b in pairs],
    }


def main():
    data = problem()
    x, W1, W2, target, A0, B0 = data
    out = {
        "generator": "tools/reference/optim_reference.py (torch %s, float64)" % torch.__version__,
        "problem": {
            "scaling": SCALING, "r": R, "steps": STEPS,
            "modules": [{"module": "layer1", "inDim": D0, "outDim": D1}, {"module": "layer2", "inDim": D1, "outDim": D2}],
            "x": x.tolist(), "W1": W1.tolist(), "W2": W2.tolist(), "target": target.tolist(),
            "A0": [a.tolist() for a in A0], "B0": [b.tolist() for b in B0],
        },
        "cases": [run_case(n, o, i, data) for n, o, i in CASES],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f)
    for c in out["cases"]:
        print(c["name"], "loss %.6f -> %.6f" % (c["losses"][0], c["losses"][-1]), c["stats"][-1])


if __name__ == "__main__":
    main()
