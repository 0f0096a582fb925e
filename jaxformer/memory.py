"""How much memory a training run needs, and the sentence to show when it does not fit.

The estimate is coarse (within a factor ~2): parameters, AdamW moments and gradients in float32, plus the
activations of one micro-batch (the per-layer count of Korthikanti et al. 2022, scaled to the compute dtype).
It serves one purpose: turning XLA's RESOURCE_EXHAUSTED into a message that names what does fit.
"""
from __future__ import annotations

import os

import jax

from jaxformer.config import PRESETS, ModelConfig, RunConfig, compute_dtype_for

GIB = 2 ** 30
USABLE_FRACTION = 0.8  # leave room for XLA's temporaries and fragmentation


def param_count(m: ModelConfig) -> int:
    """Parameters of the decoder: blocks, embeddings (tied or not), learned positions, final norm."""
    D, F, L = m.d_model, m.mlp_dim, m.n_layer
    block = 4 * D * D + 2 * D * F + 4 * D + F + D + 4 * D  # attention, MLP (with biases), two norms
    embed = m.vocab_size * D * (1 if m.tie_embeddings else 2)
    positions = m.max_len * D if m.position == "learned" else 0
    return L * block + embed + positions + 2 * D


def state_bytes(cfg: RunConfig) -> float:
    """Parameters, gradients and AdamW's two moments, float32 (plus the accumulated gradients with grad_accum > 1)."""
    copies = 4 + (1 if cfg.train.grad_accum > 1 else 0)
    return 4.0 * copies * param_count(cfg.model)


def activation_bytes(cfg: RunConfig, micro_batch: int) -> float:
    """Activations kept for the backward pass of one micro-batch."""
    m, T = cfg.model, cfg.data.seq_len
    dtype = compute_dtype_for(m.compute_dtype, jax.devices()[0].platform)
    scale = 2.0 if dtype == "float32" else 1.0  # the count is for 16-bit activations
    per_layer = T * micro_batch * m.d_model * (34 + 5 * m.n_head * T / m.d_model) * scale
    layers = per_layer * (1 if m.remat == "full" else m.n_layer)
    logits = 3 * 4.0 * micro_batch * T * m.vocab_size  # float32 logits, softmax and its gradient
    return layers + logits


def train_bytes(cfg: RunConfig, micro_batch: int | None = None) -> float:
    mb = micro_batch or cfg.train.batch_size // cfg.train.grad_accum
    return state_bytes(cfg) + activation_bytes(cfg, mb) / jax.device_count()  # the batch is split over devices


def device_memory_bytes() -> float | None:
    """Memory one device may use: its allocator's limit on an accelerator, the machine's RAM on a CPU."""
    dev = jax.devices()[0]
    try:
        stats = dev.memory_stats() or {}
    except Exception:  # noqa: BLE001 - not every backend reports memory
        stats = {}
    if "bytes_limit" in stats:
        return float(stats["bytes_limit"])
    if dev.platform == "cpu" and hasattr(os, "sysconf"):
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) / jax.local_device_count()
    return None


def is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in str(err) or "Out of memory" in str(err)


def out_of_memory_message(cfg: RunConfig) -> str:
    """Which preset/batch does not fit, the estimate, and a train.grad_accum / batch size (or preset) that fits."""
    t = cfg.train
    have = device_memory_bytes()
    need = train_bytes(cfg)
    have_text = f"{have / GIB:.1f} GiB per {jax.devices()[0].platform} device" if have else "this device's memory"
    msg = (f"{cfg.name} does not fit in {have_text}: training it at train.batch_size={t.batch_size} with "
           f"train.grad_accum={t.grad_accum} needs about {need / GIB:.1f} GiB (estimate: parameters and optimizer "
           f"state {state_bytes(cfg) / GIB:.1f} GiB, activations of a micro-batch of {t.batch_size // t.grad_accum} "
           f"sequences {activation_bytes(cfg, t.batch_size // t.grad_accum) / jax.device_count() / GIB:.1f} GiB per device)")
    budget = have * USABLE_FRACTION if have else None
    if budget is None:
        return msg + "; lower train.batch_size or raise train.grad_accum"
    fitting = [mb for mb in range(t.batch_size // t.grad_accum, 0, -1)
               if t.batch_size % mb == 0 and train_bytes(cfg, mb) <= budget]
    if fitting:
        mb = fitting[0]
        return (msg + f"; --set train.grad_accum={t.batch_size // mb} keeps the batch of {t.batch_size} in micro-batches "
                f"of {mb} (about {train_bytes(cfg, mb) / GIB:.1f} GiB), or --set train.batch_size={mb} "
                "--set train.grad_accum=1 trains on smaller batches")
    smaller = [name for name, p in PRESETS.items() if train_bytes(p, 1) <= budget and p.model != cfg.model]
    return msg + (f"; even one sequence at a time does not fit: use a smaller model, e.g. --config "
                  f"{' or '.join(smaller[:3])}" if smaller else "; no preset fits this device")


class OutOfMemoryError(ValueError):
    """The run does not fit on its devices; the message says what does."""
