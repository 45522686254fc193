# A from-scratch PyTorch reference of transformers' LlamaForCausalLM / Qwen2ForCausalLM forward (eager attention),
# used to produce golden values for the TypeScript decoder. It follows transformers' modeling_llama.py and
# modeling_qwen2.py: RMSNorm in float32 with eps, rotate_half RoPE with float32 cos/sin tables,
# `_compute_llama3_parameters` rope scaling, GQA via repeat_kv, causal additive mask, softmax in float32, SiLU MLP,
# q/k/v biases for Qwen2, tied or untied lm_head; plus PEFT LoRA (y = base(x) + B(A(dropout(x))) * scaling).
# Functional on purpose: weights are a dict {HF name: float32 tensor}, so the same dict is written to safetensors.
import math

import torch
import torch.nn.functional as F


class Config:
    def __init__(self, hf: dict):
        self.model_type = hf["model_type"]
        self.vocab_size = hf["vocab_size"]
        self.hidden_size = hf["hidden_size"]
        self.intermediate_size = hf["intermediate_size"]
        self.num_layers = hf["num_hidden_layers"]
        self.num_heads = hf["num_attention_heads"]
        self.num_kv_heads = hf.get("num_key_value_heads", self.num_heads)
        self.head_dim = hf.get("head_dim") or self.hidden_size // self.num_heads
        self.rms_norm_eps = hf.get("rms_norm_eps", 1e-6)
        self.rope_theta = hf.get("rope_theta", 10000.0)
        self.rope_scaling = hf.get("rope_scaling")
        self.tie = hf.get("tie_word_embeddings", False)
        attention_bias = hf.get("attention_bias", False)
        self.qkv_bias = True if self.model_type == "qwen2" else attention_bias
        self.o_bias = False if self.model_type == "qwen2" else attention_bias
        self.mlp_bias = hf.get("mlp_bias", False) if self.model_type == "llama" else False


def inv_freq(cfg: Config) -> torch.Tensor:
    """transformers' _compute_default_rope_parameters, then _compute_llama3_parameters when configured."""
    dim = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.rope_scaling
    if rs is None or rs.get("rope_type", rs.get("type")) == "default":
        return inv
    assert rs.get("rope_type", rs.get("type")) == "llama3"
    factor = rs["factor"]
    low_freq_factor = rs["low_freq_factor"]
    high_freq_factor = rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv / factor, inv)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def rope_cos_sin(cfg: Config, position_ids: torch.Tensor):
    """LlamaRotaryEmbedding.forward: float32 freqs = inv_freq ⊗ positions, emb = cat(freqs, freqs)."""
    inv = inv_freq(cfg)
    inv_expanded = inv[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    pos_expanded = position_ids[:, None, :].float()
    freqs = (inv_expanded @ pos_expanded).transpose(1, 2)  # [B, T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()  # [B, T, hd]


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, kv, t, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kv, n_rep, t, hd).reshape(b, kv * n_rep, t, hd)


def rms_norm(x, w, eps):
    dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    return w * x.to(dtype)


def linear(x, weights, module, lora=None, scaling=1.0):
    y = F.linear(x, weights[f"{module}.weight"], weights.get(f"{module}.bias"))
    if lora is not None and module in lora:
        A, B = lora[module]  # A [r, in], B [out, r]
        y = y + F.linear(F.linear(x, A), B) * scaling
    return y


def forward(cfg: Config, weights: dict, ids: torch.Tensor, lora=None, scaling=1.0, return_hidden=False):
    """logits [B, T, V] for ids [B, T] (positions 0..T-1, causal, no padding mask: right padding is harmless)."""
    B, T = ids.shape
    H, KV, hd = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    x = F.embedding(ids, weights["model.embed_tokens.weight"])
    position_ids = torch.arange(T)[None, :].expand(B, T)
    cos, sin = rope_cos_sin(cfg, position_ids)
    cos, sin = cos[:, None], sin[:, None]  # unsqueeze_dim=1 → [B, 1, T, hd]
    mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)[None, None]
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}"
        h = rms_norm(x, weights[f"{p}.input_layernorm.weight"], cfg.rms_norm_eps)
        q = linear(h, weights, f"{p}.self_attn.q_proj", lora, scaling).view(B, T, H, hd).transpose(1, 2)
        k = linear(h, weights, f"{p}.self_attn.k_proj", lora, scaling).view(B, T, KV, hd).transpose(1, 2)
        v = linear(h, weights, f"{p}.self_attn.v_proj", lora, scaling).view(B, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, H // KV)
        v = repeat_kv(v, H // KV)
        attn = torch.matmul(q, k.transpose(2, 3)) * hd**-0.5 + mask
        attn = F.softmax(attn, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(attn, v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + linear(o, weights, f"{p}.self_attn.o_proj", lora, scaling)
        h = rms_norm(x, weights[f"{p}.post_attention_layernorm.weight"], cfg.rms_norm_eps)
        gate = linear(h, weights, f"{p}.mlp.gate_proj", lora, scaling)
        up = linear(h, weights, f"{p}.mlp.up_proj", lora, scaling)
        x = x + linear(F.silu(gate) * up, weights, f"{p}.mlp.down_proj", lora, scaling)
    x = rms_norm(x, weights["model.norm.weight"], cfg.rms_norm_eps)
    if return_hidden:
        return x
    lm_head = weights["model.embed_tokens.weight"] if cfg.tie else weights["lm_head.weight"]
    return F.linear(x, lm_head)


def continuation_loss(cfg, weights, ids, targets, mask, lora, scaling):
    """Mean cross-entropy over every position with mask = 1 (token-weighted over the batch)."""
    logits = forward(cfg, weights, ids, lora, scaling)
    logp = F.log_softmax(logits.float(), dim=-1)
    nll = -logp.gather(-1, targets[..., None])[..., 0]
    return (nll * mask).sum() / mask.sum()


def greedy(cfg, weights, prompt, n_new):
    """Greedy continuation by full forward each step; returns (ids, logprobs, top-2 margins)."""
    ids = list(prompt)
    out, logprobs, margins = [], [], []
    for _ in range(n_new):
        logits = forward(cfg, weights, torch.tensor([ids]))[0, -1]
        top = torch.topk(logits, 2)
        nxt = int(top.indices[0])
        out.append(nxt)
        logprobs.append(float(F.log_softmax(logits, -1)[nxt]))
        margins.append(float(top.values[0] - top.values[1]))
        ids.append(nxt)
    return out, logprobs, margins
