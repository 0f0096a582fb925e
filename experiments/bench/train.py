"""Training throughput: jaxformer vs a PyTorch nanoGPT of identical shapes and optimizer, in the same run.

    python -m experiments.bench train [--presets tiny small] [--steps 20]

Both sides train on the same fixed random batch (model + AdamW + clipping only; the data loader has its
own benchmark) on one device: JAX's default device, torch with all CPU threads. Tokens/s are over timed
steps after warm-up (compilation excluded); MFU uses jaxformer.flops (causal attention counted once).
JAX and torch steps alternate in rounds so both see the same load on a shared machine. The last line is
JSON; `tokens_per_s`/`mfu`/`torch_tokens_per_s`/`ratio` are the first preset's.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable

import jax
import numpy as np

from jaxformer import sharding as shd
from jaxformer.config import MeshConfig, RunConfig, resolve_config
from jaxformer.flops import device_peak_flops, flops_per_token
from jaxformer.step import make_setup

# "small": the scaling ladder's 1M model at the paper's 1024-character context, batch cut for a CPU.
BENCH_CONFIGS = {
    "tiny": ("tiny", []),
    "small": ("scaling-1m", ["train.batch_size=8", "train.grad_accum=1"]),
    "50m": ("chessformer-50m", ["train.batch_size=16", "train.grad_accum=1"]),
}


def fixed_batch(cfg: RunConfig, seed: int = 0) -> dict[str, np.ndarray]:
    B, L = cfg.train.batch_size, cfg.data.seq_len
    toks = np.random.default_rng(seed).integers(0, cfg.model.vocab_size, (B, L + 1))
    return {"inputs": toks[:, :-1].astype(np.int32), "targets": toks[:, 1:].astype(np.int32),
            "loss_mask": np.ones((B, L), np.float32)}


def jax_stepper(cfg: RunConfig) -> Callable[[], float]:
    """One jitted train step on one device per call; returns the loss (fetching it waits for the step)."""
    mesh = shd.make_mesh(MeshConfig(1, 1, 1), jax.devices()[:1])
    setup = make_setup(cfg, mesh)
    state = list(setup.init_fn())
    batch = shd.global_batch(fixed_batch(cfg), mesh)

    def step() -> float:
        state[0], state[1], m = setup.train_step(state[0], state[1], batch)
        return float(jax.device_get(m["loss"]))

    return step


def torch_nanogpt(cfg: RunConfig):
    """nanoGPT (the paper's stack) with jaxformer's shapes: pre-LN without bias, GELU 4x, learned positions,
    tied embeddings, no dropout, fused causal attention (F.scaled_dot_product_attention)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    m = cfg.model

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(m.d_model, bias=False)
            self.c_attn = nn.Linear(m.d_model, 3 * m.d_model, bias=False)
            self.attn_proj = nn.Linear(m.d_model, m.d_model, bias=False)
            self.ln_2 = nn.LayerNorm(m.d_model, bias=False)
            self.c_fc = nn.Linear(m.d_model, m.mlp_dim, bias=False)
            self.mlp_proj = nn.Linear(m.mlp_dim, m.d_model, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, m.n_head, C // m.n_head).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(B, T, C)
            x = x + self.attn_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(m.vocab_size, m.d_model)
            self.wpe = nn.Embedding(m.max_len, m.d_model)
            self.h = nn.ModuleList([Block() for _ in range(m.n_layer)])
            self.ln_f = nn.LayerNorm(m.d_model, bias=False)
            for p in self.parameters():
                if p.dim() >= 2:
                    nn.init.normal_(p, std=m.init_std)

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            for block in self.h:
                x = block(x)
            return self.ln_f(x) @ self.wte.weight.t()  # tied embeddings

    return GPT()


def torch_stepper(cfg: RunConfig) -> Callable[[], float]:
    """nanoGPT's training step: forward, cross-entropy, backward, clip 1.0, AdamW (decay on matrices only)."""
    import torch

    torch.manual_seed(0)
    model = torch_nanogpt(cfg)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    o = cfg.optim
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": o.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=o.lr, betas=(o.b1, o.b2), eps=o.eps)
    b = fixed_batch(cfg)
    x, y = torch.from_numpy(b["inputs"]).long(), torch.from_numpy(b["targets"]).long()

    def step() -> float:
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o.clip_norm)
        opt.step()
        return loss.item()

    return step


def measure(steppers: dict[str, Callable[[], float]], steps: int, warmup: int, rounds: int) -> dict[str, dict]:
    """Warm up each, then alternate rounds of `steps // rounds` steps so both see the same machine load;
    the per-step time is the median over rounds."""
    out: dict[str, dict] = {}
    for name, step in steppers.items():
        t0 = time.perf_counter()
        for _ in range(warmup):
            step()
        out[name] = {"warmup_s": time.perf_counter() - t0, "round_times": []}
    per_round = max(1, steps // rounds)
    for _ in range(rounds):
        for name, step in steppers.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                loss = step()
            out[name]["round_times"].append((time.perf_counter() - t0) / per_round)
            out[name]["loss"] = loss
    for r in out.values():
        r["step_time_s"] = statistics.median(r.pop("round_times"))
    return out


def bench_preset(name: str, args: argparse.Namespace, have_torch: bool) -> dict:
    """One preset's row: JAX tokens/s, step time and MFU, and the same for torch when it is installed."""
    preset, overrides = BENCH_CONFIGS[name]
    cfg = resolve_config(preset, overrides)
    m = cfg.model
    tokens = cfg.train.batch_size * cfg.data.seq_len
    flops_tok = flops_per_token(m, cfg.data.seq_len)
    peak = device_peak_flops(m.compute_dtype, cfg.train.peak_flops)
    row = {"preset": name, "base": preset, "n_layer": m.n_layer, "d_model": m.d_model, "n_head": m.n_head,
           "batch": cfg.train.batch_size, "seq_len": cfg.data.seq_len, "dtype": m.compute_dtype}
    steppers = {"jax": jax_stepper(cfg)}
    if have_torch:
        steppers["torch"] = torch_stepper(cfg)
    res = measure(steppers, args.steps, args.warmup, args.rounds)
    j = res["jax"]
    row.update(tokens_per_s=tokens / j["step_time_s"], step_time_s=j["step_time_s"],
               compile_and_warmup_s=j["warmup_s"], loss=j["loss"])
    row["mfu"] = row["tokens_per_s"] * flops_tok / peak
    print(f"[jax]   {name:6s} {row['tokens_per_s']:>10,.0f} tok/s  step {j['step_time_s'] * 1e3:7.1f} ms  "
          f"MFU {row['mfu']:.1%}  (compile + warm-up {j['warmup_s']:.1f}s)")
    if have_torch:
        import torch

        t = res["torch"]
        row.update(torch_tokens_per_s=tokens / t["step_time_s"], torch_step_time_s=t["step_time_s"],
                   torch_loss=t["loss"], torch_threads=torch.get_num_threads(), torch_version=torch.__version__)
        row["torch_mfu"] = row["torch_tokens_per_s"] * flops_tok / peak
        row["ratio"] = row["tokens_per_s"] / row["torch_tokens_per_s"]
        print(f"[torch] {name:6s} {row['torch_tokens_per_s']:>10,.0f} tok/s  step "
              f"{t['step_time_s'] * 1e3:7.1f} ms  MFU {row['torch_mfu']:.1%}  -> JAX/torch {row['ratio']:.2f}x")
    return row


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["tiny", "small"], choices=sorted(BENCH_CONFIGS))
    p.add_argument("--steps", type=int, default=20, help="timed steps per framework and preset")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (JAX compiles here)")
    p.add_argument("--rounds", type=int, default=5, help="alternating JAX/torch rounds the timed steps are split into")
    p.add_argument("--no-torch", action="store_true", help="JAX only")
    args = p.parse_args(argv)

    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        if not args.no_torch:
            print("torch is not installed: the PyTorch baseline is skipped. Install the CPU wheel with "
                  "`.venv/bin/pip install torch==2.13.0` (make bench does this).")

    dev = jax.devices()[0]
    results = [bench_preset(name, args, have_torch) for name in args.presets]

    first = results[0]
    summary = {
        "bench": "train", "tokens_per_s": first["tokens_per_s"], "mfu": first["mfu"],
        "torch_tokens_per_s": first.get("torch_tokens_per_s"), "ratio": first.get("ratio"),
        "target_ratio": 1.0, "results": results,
        "conditions": {"device": dev.device_kind, "platform": dev.platform, "jax": jax.__version__,
                       "cpu_count": os.cpu_count(), "machine": platform.machine(),
                       "ld_preload": os.environ.get("LD_PRELOAD", ""), "steps": args.steps, "rounds": args.rounds,
                       "warmup": args.warmup, "peak_flops_per_device": device_peak_flops("float32")},
    }
    print(json.dumps(summary, default=lambda o: None if isinstance(o, float) and not math.isfinite(o) else o))
    return 0
