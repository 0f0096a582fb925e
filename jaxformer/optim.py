"""AdamW with linear warm-up, cosine decay to `min_lr` at `decay_steps`, global-norm clipping; weight decay on matrices only."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxformer.config import OptimConfig


def lr_schedule(cfg: OptimConfig, total_steps: int) -> optax.Schedule:
    """Linear warm-up over `warmup_steps`, then cosine to min_lr at `decay_steps` (default: the run's last step,
    `total_steps`) and min_lr after. The warm-up is lr * (s+1)/(W+1) (never 0), or with `warmup_from_zero` the
    paper's lr * s/W (chess_research/train.py:240-249, whose step 0 trains at lr 0)."""
    warmup = cfg.warmup_steps
    decay_steps = max(cfg.decay_steps or total_steps, warmup + 1)
    offset = 0.0 if cfg.warmup_from_zero else 1.0

    def schedule(step: jax.Array) -> jax.Array:
        step = jnp.asarray(step, jnp.float32)
        warm = cfg.lr * (step + offset) / max(warmup + offset, 1.0)
        progress = jnp.clip((step - warmup) / (decay_steps - warmup), 0.0, 1.0)
        cosine = cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + jnp.cos(jnp.pi * progress))
        return jnp.where(step < warmup, warm, cosine)

    return schedule


def decay_mask(model: nnx.Module) -> dict:
    """True for weight matrices and embeddings; False for norm scales (also when layers are stacked)."""
    state = nnx.state(model, nnx.Param)
    mask = jax.tree.map(lambda v: "norm" not in tuple(v.get_metadata().get("logical_axes", ())),
                        state, is_leaf=lambda x: isinstance(x, nnx.Variable))
    return nnx.to_pure_dict(mask)


def make_optimizer(cfg: OptimConfig, model: nnx.Module, total_steps: int) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(cfg.clip_norm),
        optax.adamw(lr_schedule(cfg, total_steps), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
                    weight_decay=cfg.weight_decay, mask=decay_mask(model)),
    )
