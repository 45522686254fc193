"""Reference LoRA optimizers in PyTorch, written from docs/optimizers.md (§2-§6) and docs/paper.md §3,
independently of the TypeScript in src/optim/. Used by optim_reference.py (golden fixtures) and by trajectory tests
on tiny checkpoints. Each class takes explicit (A, B) pairs (A: [r, in], B: [out, r], requires_grad) and
`step(lr)` reads `.grad`. Where src/optim documents a deliberate choice (Riemannian: PEFT semantics with
pinv rtol = r*eps_f32; LoRA-RITE: eigenvalue clamp, non-finite => skip), the same choice is made here.
Run with Debian's /usr/bin/python3 (torch 1.13)."""
import math

import torch

EPS_F32 = 2.0 ** -23


def _params(pairs):
    return [p for pair in pairs for p in pair]


class AdamWRef:
    """torch.optim.AdamW over every A and B (decoupled decay before the moments, bias correction)."""

    def __init__(self, pairs, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.pairs = pairs
        self.opt = torch.optim.AdamW(_params(pairs), lr=1e-3, betas=betas, eps=eps, weight_decay=weight_decay)

    def step(self, lr):
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()
        return {}


class LoraPlusRef:
    """LoRA+ (arXiv 2402.12354): AdamW with two groups, lr_B = ratio * lr_A, same wd (docs/optimizers.md §3)."""

    def __init__(self, pairs, lr_ratio, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.ratio = lr_ratio
        groups = [
            {"params": [a for a, _ in pairs], "weight_decay": weight_decay},
            {"params": [b for _, b in pairs], "weight_decay": weight_decay},
        ]
        self.opt = torch.optim.AdamW(groups, lr=1e-3, betas=betas, eps=eps)

    def step(self, lr):
        self.opt.param_groups[0]["lr"] = lr
        self.opt.param_groups[1]["lr"] = lr * self.ratio
        self.opt.step()
        return {}


class StableLoraRef:
    """Stable-LoRA (arXiv 2603.05204), official stable_lora.py semantics (docs/paper.md §3): before AdamW, for each
    module still shrinking: if ||A|| < numel(A)/numel(B) * ||B|| (strict) stop for good, else A *= (1 - lambda)."""

    def __init__(self, pairs, shrink_ratio, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, stop_condition=True):
        self.pairs = pairs
        self.shrink_ratio = shrink_ratio
        self.stop_condition = stop_condition
        self.keep_shrink = [True] * len(pairs)
        self.stop_step = [None] * len(pairs)
        self.t = 0
        self.opt = torch.optim.AdamW(_params(pairs), lr=1e-3, betas=betas, eps=eps, weight_decay=weight_decay)

    def step(self, lr):
        self.t += 1
        with torch.no_grad():
            for k, (A, B) in enumerate(self.pairs):
                if not self.keep_shrink[k]:
                    continue
                ratio = A.numel() / B.numel()
                if self.stop_condition and A.norm() < ratio * B.norm():
                    self.keep_shrink[k] = False
                    self.stop_step[k] = self.t
                else:
                    A.mul_(1 - self.shrink_ratio)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()
        return {"shrinking": sum(self.keep_shrink), "stopStep": list(self.stop_step)}


class RiemannianRef:
    """Riemannian preconditioned LoRA (arXiv 2402.02347), PEFT create_riemannian_optimizer semantics
    (docs/optimizers.md §4): grads replaced by pinv(B^T B + dI) G_A and G_B pinv(A A^T + dI), both from the pre-step
    factors, then torch AdamW. pinv cuts eigenvalues <= r*eps_f32*max (torch's fp32 default), computed in float64."""

    def __init__(self, pairs, delta, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.pairs = pairs
        self.delta = delta
        self.opt = torch.optim.AdamW(_params(pairs), lr=1e-3, betas=betas, eps=eps, weight_decay=weight_decay)

    def _pinv(self, M):
        r = M.shape[0]
        return torch.linalg.pinv(M, hermitian=True, rtol=r * EPS_F32)

    def step(self, lr):
        cond_max = 0.0
        with torch.no_grad():
            new = []
            for A, B in self.pairs:
                r = A.shape[0]
                I = torch.eye(r, dtype=torch.float64)
                MB = B.T.double() @ B.double() + self.delta * I
                MA = A.double() @ A.T.double() + self.delta * I
                for M in (MB, MA):
                    w = torch.linalg.eigvalsh(M).abs()
                    cond_max = max(cond_max, float(w.max() / w.min()))
                new.append(((self._pinv(MB) @ A.grad.double()).to(A.dtype), (B.grad.double() @ self._pinv(MA)).to(B.dtype)))
            for (A, B), (gA, gB) in zip(self.pairs, new):
                A.grad.copy_(gA)
                B.grad.copy_(gB)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()
        return {"cond_max": cond_max}


def _bias_corrected_decay(t, beta):
    # Adafactor sec. 7.1; t is the 0-based step count.
    return beta * (1.0 - beta ** t) / (1.0 - beta ** (t + 1))


def _sym(X):
    return (X + X.T) / 2


class LoraRiteRef:
    """LoRA-RITE (arXiv 2410.20625), the authors' PyTorch port as specified in docs/optimizers.md §5, PEFT layout
    (A_hat = A^T [in, r], B [out, r]); Householder QR + pinv; eigenvalues of V clamped at 0; a non-finite
    unmagnified gradient is skipped like an RMS skip."""

    def __init__(self, pairs, betas, eps=1e-6, clip=1.0, skip=1.0, cap=0.0, weight_decay=0.0, apply_escape=False):
        self.pairs = pairs
        self.beta1, self.beta2 = betas
        self.eps, self.clip, self.skip, self.cap = eps, clip, skip, cap
        self.wd = weight_decay
        self.apply_escape = apply_escape
        self.t = 0
        self.state = []
        for A, B in pairs:
            r, n = A.shape
            m = B.shape[0]
            z = dict(dtype=A.dtype)
            self.state.append(dict(
                VA=torch.zeros(r, r, **z), VB=torch.zeros(r, r, **z), MA=torch.zeros(n, r, **z), MB=torch.zeros(m, r, **z),
                QA=torch.zeros(n, r, **z), QB=torch.zeros(m, r, **z), rhoA=0.0, rhoB=0.0))

    def _rinv(self, R):
        return torch.linalg.pinv(R, rtol=R.shape[0] * EPS_F32)

    def _inv_root(self, V, rho):
        w, U = torch.linalg.eigh(_sym(V))
        w = torch.clamp(w, min=0)
        return _sym(_sym((U * (1.0 / (torch.sqrt(w + rho) + self.eps)).unsqueeze(0)) @ U.T))

    @staticmethod
    def _escape(V_old, V_new):
        d = torch.max(torch.linalg.eigvalsh(V_old) - torch.linalg.eigvalsh(V_new)).clamp(min=0)
        tr = (torch.trace(V_old) - torch.trace(V_new)).clamp(min=0)
        return float(torch.minimum(d, tr))

    def step(self, lr):
        b1 = _bias_corrected_decay(self.t, self.beta1)
        b2 = _bias_corrected_decay(self.t, self.beta2)
        with torch.no_grad():
            # pass 1: unmagnify + skip, global norm
            work = []
            norm_sq = 0.0
            skipped = 0
            for A, B in self.pairs:
                gA = torch.nan_to_num(A.grad, nan=math.nan, posinf=math.nan, neginf=math.nan)
                gB = torch.nan_to_num(B.grad, nan=math.nan, posinf=math.nan, neginf=math.nan)
                QA, RA = torch.linalg.qr(A.T)
                QB, RB = torch.linalg.qr(B)
                RAi, RBi = self._rinv(RA), self._rinv(RB)
                GA = gA.T @ RBi  # [in, r]
                GB = gB @ RAi  # [out, r]
                out = []
                for G in (GA, GB):
                    rms = torch.sqrt(torch.mean(G ** 2))
                    if not torch.isfinite(G).all() or (self.skip > 0 and rms > self.skip):
                        G = torch.zeros_like(G)
                        skipped += 1
                    norm_sq += float(torch.sum(G ** 2))
                    out.append(G)
                work.append((QA, QB, RAi, RBi, out[0], out[1]))
            N = math.sqrt(norm_sq)
            c = self.clip / N if (self.clip > 0 and N > self.clip) else 1.0
            # pass 2
            for (A, B), st, (QA, QB, RAi, RBi, GA, GB) in zip(self.pairs, self.state, work):
                GA, GB = GA * c, GB * c
                SA = _sym(GA.T @ GA) / GA.shape[0]
                SB = _sym(GB.T @ GB) / GB.shape[0]
                PA = QB.T @ st["QB"]  # A's statistics live in B's basis
                PB = QA.T @ st["QA"]
                VtA = torch.nan_to_num(_sym(PA @ st["VA"] @ PA.T))
                VtB = torch.nan_to_num(_sym(PB @ st["VB"] @ PB.T))
                if self.apply_escape:
                    st["rhoA"] = b2 * (st["rhoA"] + self._escape(st["VA"], VtA))
                    st["rhoB"] = b2 * (st["rhoB"] + self._escape(st["VB"], VtB))
                rhoA = st["rhoA"] if self.apply_escape else 0.0
                rhoB = st["rhoB"] if self.apply_escape else 0.0
                st["VA"] = _sym((1 - b2) * SA + b2 * VtA)
                st["VB"] = _sym((1 - b2) * SB + b2 * VtB)
                SbarA = torch.nan_to_num(GA @ self._inv_root(st["VA"], rhoA))
                SbarB = torch.nan_to_num(GB @ self._inv_root(st["VB"], rhoB))
                st["MA"] = (1 - b1) * SbarA + b1 * (st["MA"] @ PA.T)
                st["MB"] = (1 - b1) * SbarB + b1 * (st["MB"] @ PB.T)
                UA, UB = st["MA"], st["MB"]
                if self.cap > 0:
                    UA = UA / max(1.0, float(torch.sqrt(torch.mean(UA ** 2))) / self.cap)
                    UB = UB / max(1.0, float(torch.sqrt(torch.mean(UB ** 2))) / self.cap)
                dA = RBi @ UA.T  # [r, in]
                dB = UB @ RAi.T  # [out, r]
                if self.wd > 0:
                    dA = dA + self.wd * A
                    dB = dB + self.wd * B
                A.add_(-lr * dA)
                B.add_(-lr * dB)
                st["QA"], st["QB"] = QA, QB
        self.t += 1
        return {"unmagnified_norm": N, "clip_factor": c, "skipped": skipped}


def make_optimizer(cfg, pairs):
    """cfg: the TypeScript OptimizerConfig fields (name, betas, eps, weightDecay, lambda, ...)."""
    name = cfg["name"]
    common = dict(betas=tuple(cfg["betas"]), eps=cfg["eps"], weight_decay=cfg["weightDecay"])
    if name == "adamw":
        return AdamWRef(pairs, **common)
    if name == "lora-plus":
        return LoraPlusRef(pairs, cfg["lrRatio"], **common)
    if name == "stable-lora":
        return StableLoraRef(pairs, cfg["lambda"], stop_condition=cfg["stopCondition"], **common)
    if name == "riemannian":
        return RiemannianRef(pairs, cfg["delta"], **common)
    if name == "lora-rite":
        return LoraRiteRef(pairs, betas=tuple(cfg["betas"]), eps=cfg["eps"], clip=cfg["clipUnmagnifiedGrad"],
                           skip=cfg["updateSkipping"], cap=cfg["updateCapping"], weight_decay=cfg["weightDecay"],
                           apply_escape=cfg["applyEscape"])
    raise ValueError(f"unknown optimizer {name!r}")
