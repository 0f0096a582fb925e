"""Model FLOPs per token and device peak FLOP/s, for MFU (model FLOPs utilisation)."""
from __future__ import annotations

import os

import jax

from jaxformer.config import ModelConfig, compute_dtype_for

# Dense peak FLOP/s per device: (bf16/fp16, fp32). GPU fp32 uses TF32 tensor cores (XLA's default precision).
PEAK_FLOPS: dict[str, tuple[float, float]] = {
    "h100": (989e12, 495e12),
    "h200": (989e12, 495e12),
    "a100": (312e12, 156e12),
    "tpu v4": (275e12, 275e12),
    "tpu v5 lite": (197e12, 197e12),
    "tpu v5e": (197e12, 197e12),
    "tpu v5p": (459e12, 459e12),
    "tpu v5": (459e12, 459e12),
}
CPU_FLOPS_PER_CORE_CYCLE = 32  # two 8-lane fp32 FMA units (AVX2/AVX-512 at half rate); a guess, not a measurement
CPU_GHZ = 2.5


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token: 6 x matmul params, plus attention scores counted once for the causal half."""
    D, F, L, V = cfg.d_model, cfg.mlp_dim, cfg.n_layer, cfg.vocab_size
    matmul_params = L * (4 * D * D + 2 * D * F) + D * V
    attention = 6 * L * seq_len * D  # 12 * L * T * D for full attention, halved by the causal mask
    return 6.0 * matmul_params + attention


def device_peak_flops(compute_dtype: str, override: float | None = None) -> float:
    """Per-device peak at `compute_dtype` ("auto": as it resolves on this device); `train.peak_flops` overrides the table."""
    if override:
        return float(override)
    dev = jax.devices()[0]
    kind = dev.device_kind.lower()
    half = compute_dtype_for(compute_dtype, dev.platform) in ("bfloat16", "float16")
    for name, (p16, p32) in PEAK_FLOPS.items():
        if name in kind:
            return p16 if half else p32
    if dev.platform == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return cores * CPU_GHZ * 1e9 * CPU_FLOPS_PER_CORE_CYCLE / jax.local_device_count()
    return float("nan")  # unknown accelerator: set train.peak_flops
