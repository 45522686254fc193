#!/usr/bin/python3
# The PyTorch peer of `run.ts bench`: the same Llama/Qwen2 decoder (RMSNorm, rotate_half RoPE, GQA, SwiGLU, optional
# q/k/v bias, tied or untied lm_head) with random frozen weights, LoRA on the given targets, AdamW on the LoRA
# parameters, and a timed training step and forward. Follows docs/engine.md §7: Debian's torch 1.13
# with libopenblas0-pthread, OPENBLAS_NUM_THREADS=1 and torch.set_num_threads(2) (else 2–20× slower).
# Usage: /usr/bin/python3 tools/bench/torch_peer.py '{"model": {<HF config.json>}, "batch": 8, "seqLen": 128, ...}'
# Prints one JSON object on stdout: {stepSeconds, forwardSeconds, tokensPerSec, peakRssMB, torchVersion, threads, blas}.
import json
import os
import sys

# Must precede `import torch`: OpenBLAS reads it when the library loads (docs/engine.md §7; else oversubscribed).
os.environ["OPENBLAS_NUM_THREADS"] = "1"
TORCH_THREADS = 2

import math  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def detect_blas():
    """Which BLAS library this process mapped: OpenBLAS, or the Netlib reference (2–4 GFLOP/s: numbers meaningless)."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(p)
            if "blas" in base.lower() or "lapack" in base.lower():
                libs.add(p)
    if any("openblas" in p.lower() for p in libs):
        kind = "openblas"
    elif any("mkl" in p.lower() for p in libs):
        kind = "mkl"
    elif libs:
        kind = "reference"
    else:
        kind = "unknown"  # torch built with a statically linked BLAS: cannot tell
    return kind, sorted(libs)


class Lora(torch.nn.Module):
    """y = x·W0ᵀ (+ b) + s·(x·Aᵀ)·Bᵀ, W0 frozen [out, in]; A [r, in], B [out, r] trainable (B small, not 0)."""

    def __init__(self, w, b, r, alpha, gen):
        super().__init__()
        out_dim, in_dim = w.shape
        self.w, self.b = w, b
        bound = 1 / math.sqrt(in_dim)
        self.A = torch.nn.Parameter((torch.rand(r, in_dim, generator=gen) * 2 - 1) * bound)
        self.B = torch.nn.Parameter((torch.rand(out_dim, r, generator=gen) * 2 - 1) * 1e-3)
        self.s = alpha / r

    def forward(self, x):
        return F.linear(x, self.w, self.b) + F.linear(F.linear(x, self.A), self.B) * self.s


class Frozen(torch.nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        return F.linear(x, self.w, self.b)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Decoder(torch.nn.Module):
    def __init__(self, c, r, alpha, targets, gen):
        super().__init__()
        self.c = c
        d, hd = c["hidden_size"], c["head_dim"]
        H, KV, ffn, V = c["num_attention_heads"], c["num_key_value_heads"], c["intermediate_size"], c["vocab_size"]
        qkv_bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)
        std = 0.02 * math.sqrt(3)

        def w(out_dim, in_dim):
            return ((torch.rand(out_dim, in_dim, generator=gen) * 2 - 1) * std).requires_grad_(False)

        def lin(name, out_dim, in_dim, bias):
            b = torch.zeros(out_dim) if bias else None
            return Lora(w(out_dim, in_dim), b, r, alpha, gen) if name in targets else Frozen(w(out_dim, in_dim), b)

        self.embed = w(V, d)
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            m = torch.nn.Module()
            m.q = lin("q_proj", H * hd, d, qkv_bias)
            m.k = lin("k_proj", KV * hd, d, qkv_bias)
            m.v = lin("v_proj", KV * hd, d, qkv_bias)
            m.o = lin("o_proj", d, H * hd, False)
            m.gate = lin("gate_proj", ffn, d, False)
            m.up = lin("up_proj", ffn, d, False)
            m.down = lin("down_proj", d, ffn, False)
            m.ln1, m.ln2 = torch.ones(d), torch.ones(d)
            self.layers.append(m)
        self.norm = torch.ones(d)
        self.lm_head = self.embed if c.get("tie_word_embeddings", False) else w(V, d)
        T = c["_seq_len"]
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
        freqs = torch.outer(torch.arange(T).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()  # [T, hd]
        self.mask = torch.full((T, T), float("-inf")).triu(1)

    def forward(self, ids):
        c = self.c
        Bsz, T = ids.shape
        H, KV, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], c.get("rms_norm_eps", 1e-6)
        x = F.embedding(ids, self.embed)
        for m in self.layers:
            h = rms_norm(x, m.ln1, eps)
            q = m.q(h).view(Bsz, T, H, hd).transpose(1, 2)
            k = m.k(h).view(Bsz, T, KV, hd).transpose(1, 2)
            v = m.v(h).view(Bsz, T, KV, hd).transpose(1, 2)
            q = q * self.cos + rotate_half(q) * self.sin
            k = k * self.cos + rotate_half(k) * self.sin
            # GQA: the G query heads sharing a KV head folded into rows (no repeat), as in the tfjs probe
            G = H // KV
            q = q.reshape(Bsz, KV, G * T, hd)
            s = q @ k.transpose(-1, -2) / math.sqrt(hd)  # [B, KV, G·T, T]
            s = s.view(Bsz, KV, G, T, T) + self.mask
            p = torch.softmax(s, dim=-1).view(Bsz, KV, G * T, T)
            a = (p @ v).view(Bsz, H, T, hd).transpose(1, 2).reshape(Bsz, T, H * hd)
            x = x + m.o(a)
            h = rms_norm(x, m.ln2, eps)
            x = x + m.down(F.silu(m.gate(h)) * m.up(h))
        x = rms_norm(x, self.norm, eps)
        return F.linear(x, self.lm_head)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_peer.py '<json: {model, batch, seqLen, r, alpha, targets, steps, forwardSteps, seed}>'")
    job = json.loads(sys.argv[1])
    c = dict(job["model"])
    c.setdefault("head_dim", c["hidden_size"] // c["num_attention_heads"])
    c.setdefault("num_key_value_heads", c["num_attention_heads"])
    B, T = int(job.get("batch", 8)), int(job.get("seqLen", 128))
    c["_seq_len"] = T
    r, alpha = int(job.get("r", 8)), float(job.get("alpha", 16))
    targets = set(job.get("targets", TARGETS))
    steps, fwd_steps = int(job.get("steps", 7)), int(job.get("forwardSteps", job.get("steps", 7)))
    warmup = int(job.get("warmup", 2))

    torch.set_num_threads(TORCH_THREADS)
    blas, libs = detect_blas()
    if blas == "reference":
        print(
            "!!! torch_peer.py: torch is using the Netlib REFERENCE BLAS (" + ", ".join(libs) + "): 2–4 GFLOP/s, the "
            "numbers are MEANINGLESS. Install Debian's libopenblas0-pthread (apt-get install libopenblas0-pthread). !!!",
            file=sys.stderr,
        )
    gen = torch.Generator().manual_seed(int(job.get("seed", 0)))
    model = Decoder(c, r, alpha, targets, gen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    ids = torch.randint(0, c["vocab_size"], (B, T + 1), generator=gen)
    inp, tgt = ids[:, :-1], ids[:, 1:]

    def step():
        logits = model(inp)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    losses, times = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        losses.append(step())
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    fwd = []
    with torch.no_grad():
        model(inp)
        for _ in range(max(1, fwd_steps)):
            t0 = time.perf_counter()
            model(inp)
            fwd.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    out = {
        "stepSeconds": step_s,
        "stepSecondsAll": times,
        "forwardSeconds": statistics.median(fwd),
        "tokensPerSec": B * T / step_s,
        "forwardTokensPerSec": B * T / statistics.median(fwd),
        "tokensPerStep": B * T,
        "firstLoss": losses[0],
        "lastLoss": losses[-1],
        "trainableParams": sum(p.numel() for p in params),
        "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torchVersion": torch.__version__,
        "threads": {"torch": torch.get_num_threads(), "OPENBLAS_NUM_THREADS": os.environ["OPENBLAS_NUM_THREADS"]},
        "blas": blas,
        "blasLibraries": libs,
        "note": "OPENBLAS_NUM_THREADS=1 set before importing torch; torch.set_num_threads(2) (docs/engine.md §7)"
        + ("; REFERENCE BLAS IN USE: numbers meaningless" if blas == "reference" else ""),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
