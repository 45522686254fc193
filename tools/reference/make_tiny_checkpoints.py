# Writes the two tiny parity checkpoints under src/models/fixtures/ and their golden outputs, computed with
# tools/reference/reference_model.py (PyTorch, transformers semantics). Run from the repository root with Debian's
# python3 (python3-torch, numpy):   /usr/bin/python3 tools/reference/make_tiny_checkpoints.py
#   qwen2-tiny/  Qwen2-style: q/k/v biases, BF16 weights, tied embeddings, one model.safetensors
#   llama-tiny/  Llama-3.2-style: llama3 rope scaling, explicit head_dim ≠ hidden/heads, untied lm_head, two shards
#                (F32 and F16) + model.safetensors.index.json
# Each folder also holds a PEFT adapter (r=4, alpha=8, all seven targets, nonzero B) and golden.json: logits for
# fixed ids, the LoRA continuation loss with dA/dB for every pair, and a greedy continuation. Deterministic (seeded).
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model as ref  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "models", "fixtures")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def write_safetensors(path, tensors, dtypes, metadata=None):
    """tensors: {name: float32 tensor}; dtypes: {name: "F32"|"F16"|"BF16"}. Hand-written (no safetensors package)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        dt = dtypes[name]
        t = t.detach().contiguous()
        if dt == "F32":
            raw = t.float().numpy().astype("<f4").tobytes()
        elif dt == "F16":
            raw = t.float().numpy().astype("<f2").tobytes()
        elif dt == "BF16":
            raw = t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raise ValueError(dt)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def stored_value(t, dt):
    """What a reader gets back after storing t as dt (the reference computes on exactly these values)."""
    if dt == "F16":
        return t.half().float()
    if dt == "BF16":
        return t.to(torch.bfloat16).float()
    return t.float()


def make_weights(cfg: ref.Config, g: torch.Generator):
    d, hd = cfg.hidden_size, cfg.head_dim
    q_out, kv_out = cfg.num_heads * hd, cfg.num_kv_heads * hd
    w = {"model.embed_tokens.weight": torch.randn(cfg.vocab_size, d, generator=g) * 0.5}

    def lin(m, i, o, bias):
        w[f"{m}.weight"] = torch.randn(o, i, generator=g) * (1.0 / i**0.5)
        if bias:
            w[f"{m}.bias"] = torch.randn(o, generator=g) * 0.1

    for i in range(cfg.num_layers):
        p = f"model.layers.{i}"
        w[f"{p}.input_layernorm.weight"] = 1 + 0.1 * torch.randn(d, generator=g)
        lin(f"{p}.self_attn.q_proj", d, q_out, cfg.qkv_bias)
        lin(f"{p}.self_attn.k_proj", d, kv_out, cfg.qkv_bias)
        lin(f"{p}.self_attn.v_proj", d, kv_out, cfg.qkv_bias)
        lin(f"{p}.self_attn.o_proj", q_out, d, cfg.o_bias)
        w[f"{p}.post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(d, generator=g)
        lin(f"{p}.mlp.gate_proj", d, cfg.intermediate_size, cfg.mlp_bias)
        lin(f"{p}.mlp.up_proj", d, cfg.intermediate_size, cfg.mlp_bias)
        lin(f"{p}.mlp.down_proj", cfg.intermediate_size, d, cfg.mlp_bias)
    w["model.norm.weight"] = 1 + 0.1 * torch.randn(d, generator=g)
    if not cfg.tie:
        w["lm_head.weight"] = torch.randn(cfg.vocab_size, d, generator=g) * (1.0 / d**0.5) * 3
    return w


def module_dims(cfg: ref.Config):
    d, hd = cfg.hidden_size, cfg.head_dim
    q_out, kv_out = cfg.num_heads * hd, cfg.num_kv_heads * hd
    dims = {"q_proj": (d, q_out), "k_proj": (d, kv_out), "v_proj": (d, kv_out), "o_proj": (q_out, d),
            "gate_proj": (d, cfg.intermediate_size), "up_proj": (d, cfg.intermediate_size), "down_proj": (cfg.intermediate_size, d)}
    out = {}
    for i in range(cfg.num_layers):
        for t in TARGETS:
            kind = "self_attn" if t in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            out[f"model.layers.{i}.{kind}.{t}"] = dims[t]
    return out


def num(x):
    return float(f"{float(x):.8g}")


def flat(t):
    return [num(v) for v in t.detach().reshape(-1).tolist()]


def build(name, hf_config, dtype_of, shards, seed):
    out_dir = os.path.join(ROOT, name)
    os.makedirs(os.path.join(out_dir, "adapter"), exist_ok=True)
    cfg = ref.Config(hf_config)
    g = torch.Generator().manual_seed(seed)
    raw = make_weights(cfg, g)
    dtypes = {n: dtype_of(n) for n in raw}
    weights = {n: stored_value(t, dtypes[n]) for n, t in raw.items()}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config, f, indent=2)
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), raw, dtypes, {"format": "pt"})
    else:
        names = list(raw)
        cut = names.index("model.layers.1.input_layernorm.weight")
        parts = [names[:cut], names[cut:]]
        weight_map = {}
        for k, part in enumerate(parts):
            fname = f"model-{k + 1:05d}-of-{len(parts):05d}.safetensors"
            write_safetensors(os.path.join(out_dir, fname), {n: raw[n] for n in part}, dtypes, {"format": "pt"})
            weight_map.update({n: fname for n in part})
        total = sum(weights[n].numel() * {"F32": 4, "F16": 2, "BF16": 2}[dtypes[n]] for n in names)
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    # Logits of the base model for two fixed rows.
    ids = torch.randint(0, cfg.vocab_size, (2, 12), generator=g)
    with torch.no_grad():
        logits = ref.forward(cfg, weights, ids)

    # A PEFT adapter with nonzero B on all seven targets; loss + gradients on a right-padded batch.
    r, alpha = 4, 8
    scaling = alpha / r
    lora = {}
    for m, (i, o) in module_dims(cfg).items():
        bound = 1 / i**0.5
        A = (torch.rand(r, i, generator=g) * 2 - 1) * bound
        B = torch.randn(o, r, generator=g) * 0.05
        lora[m] = (A.requires_grad_(), B.requires_grad_())
    peft = {f"base_model.model.{m}.lora_{ab}.weight": t for m, (A, B) in lora.items() for ab, t in (("A", A), ("B", B))}
    write_safetensors(os.path.join(out_dir, "adapter", "adapter_model.safetensors"), peft, {n: "F32" for n in peft}, {"format": "pt"})
    with open(os.path.join(out_dir, "adapter", "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": name, "r": r, "lora_alpha": alpha,
                   "lora_dropout": 0.0, "target_modules": TARGETS, "bias": "none", "use_rslora": False,
                   "fan_in_fan_out": False, "inference_mode": True}, f, indent=2)

    lengths, ctx_lens = [13, 10], [5, 3]
    T = max(lengths) - 1
    seqs = [torch.randint(0, cfg.vocab_size, (n,), generator=g).tolist() for n in lengths]
    b_ids = torch.zeros(2, T, dtype=torch.long)
    b_tgt = torch.zeros(2, T, dtype=torch.long)
    b_mask = torch.zeros(2, T)
    for b, (s, c) in enumerate(zip(seqs, ctx_lens)):
        n = len(s) - 1
        b_ids[b, :n] = torch.tensor(s[:-1])
        b_tgt[b, :n] = torch.tensor(s[1:])
        b_mask[b, c - 1 : n] = 1
    loss = ref.continuation_loss(cfg, weights, b_ids, b_tgt, b_mask, lora, scaling)
    loss.backward()
    grads = {}
    for m, (A, B) in lora.items():
        grads[f"{m}.lora_A.weight"] = flat(A.grad)
        grads[f"{m}.lora_B.weight"] = flat(B.grad)

    prompt = ids[0, :6].tolist()
    with torch.no_grad():
        gen, gen_lp, margins = ref.greedy(cfg, weights, prompt, 20)
    print(f"{name}: min top-2 logit margin in greedy generation = {min(margins):.4f}, loss = {loss.item():.6f}")
    assert min(margins) > 1e-3, "near-tie in greedy generation: pick another seed"

    golden = {
        "producedBy": "tools/reference/make_tiny_checkpoints.py (PyTorch " + torch.__version__ + ")",
        "logits": {"ids": ids.tolist(), "shape": list(logits.shape), "values": flat(logits)},
        "lora": {
            "adapter": "adapter", "r": r, "alpha": alpha, "targets": TARGETS,
            "batch": {"B": 2, "T": T, "ids": b_ids.reshape(-1).tolist(), "targets": b_tgt.reshape(-1).tolist(),
                      "mask": b_mask.reshape(-1).tolist()},
            "loss": num(loss.item()), "grads": grads,
        },
        "greedy": {"prompt": prompt, "ids": gen, "logprobs": [num(x) for x in gen_lp]},
    }
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))


def main():
    torch.set_num_threads(1)
    build(
        "qwen2-tiny",
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 256, "hidden_size": 64,
         "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "hidden_act": "silu", "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
         "tie_word_embeddings": True, "use_sliding_window": False, "bos_token_id": 0, "eos_token_id": 1,
         "torch_dtype": "bfloat16"},
        lambda n: "BF16",
        shards=1,
        seed=1,
    )
    build(
        "llama-tiny",
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 64,
         "intermediate_size": 80, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2,
         "head_dim": 16, "hidden_act": "silu", "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
         "rope_theta": 10000.0,
         "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 64},
         "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False, "bos_token_id": 0,
         "eos_token_id": 1, "torch_dtype": "float32"},
        lambda n: "F16" if n.startswith("model.layers.1.") or n in ("model.norm.weight", "lm_head.weight") else "F32",
        shards=2,
        seed=2,
    )


if __name__ == "__main__":
    main()
