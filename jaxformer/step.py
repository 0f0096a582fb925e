"""The pieces of training: the train step (with gradient accumulation), the eval step, and `make_setup`,
which jits them with the run's shardings beside a sharded init.

`train_step(static, params, opt_state, batch)` is a plain function a test can call directly.

State is functional: `params` is the model's pure dict of float32 arrays (the NNX graph definition is
static), `opt_state` the Optax state. Both are placed on the mesh from the parameters' logical axes.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxformer import sharding as shd
from jaxformer.config import RunConfig
from jaxformer.model import Transformer
from jaxformer.optim import lr_schedule, make_optimizer

Batch = dict[str, jax.Array]


@dataclasses.dataclass
class TrainSetup:
    """Everything static about a run on a mesh: model structure, optimizer, shardings, compiled steps."""

    cfg: RunConfig
    mesh: Mesh
    static: StepStatic  # what train_step / eval_step take first
    param_shardings: Any
    opt_shardings: Any
    abstract_params: Any  # ShapeDtypeStructs with shardings: restore targets
    abstract_opt_state: Any
    init_fn: Callable[[], tuple[Any, Any]]
    train_step: Callable[[Any, Any, Batch], tuple[Any, Any, dict]]  # train_step(static, ...) jitted with shardings
    eval_step: Callable[[Any, Batch], tuple[jax.Array, jax.Array]]


def model_abstract(cfg: RunConfig) -> Transformer:
    return nnx.eval_shape(lambda: Transformer(cfg.model, rngs=nnx.Rngs(cfg.train.seed)))


def init_params(cfg: RunConfig) -> dict:
    return nnx.to_pure_dict(nnx.state(Transformer(cfg.model, rngs=nnx.Rngs(cfg.train.seed)), nnx.Param))


def masked_loss_sums(graphdef: Any, params: Any, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """Sum of token cross-entropies (float32) over the loss mask, and the number of counted tokens."""
    logits_BxLxV = nnx.merge(graphdef, params)(batch["inputs"])
    ce_BxL = optax.softmax_cross_entropy_with_integer_labels(logits_BxLxV, batch["targets"])
    mask_BxL = batch["loss_mask"].astype(jnp.float32)
    return jnp.sum(ce_BxL * mask_BxL), jnp.sum(mask_BxL)


def _micro_batches(batch: Batch, accum: int, mesh: Mesh) -> Batch:
    """[B, L] -> [accum, B/accum, L], row i going to micro-batch i % accum so every device feeds each one."""
    def split(x: jax.Array) -> jax.Array:
        B = x.shape[0]
        x = x.reshape(B // accum, accum, *x.shape[1:]).swapaxes(0, 1)
        spec = P(None, ("data", "fsdp"), *([None] * (x.ndim - 2)))
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))
    return {k: split(v) for k, v in batch.items()}


def _schedule_count(opt_state: Any) -> jax.Array:
    """The learning-rate schedule's step counter inside the AdamW state (the step this update uses)."""
    for path, value in optax.tree_utils.tree_get_all_with_path(opt_state, "count"):
        if getattr(path[-1], "tuple_name", None) == "ScaleByScheduleState":
            return value
    raise ValueError("optimizer state has no ScaleByScheduleState count")


@dataclasses.dataclass(frozen=True)
class StepStatic:
    """What a train step needs besides its state and batch; fixed for a run (compiled into the step)."""

    graphdef: Any  # the model's NNX graph definition (params are a pure dict beside it)
    tx: optax.GradientTransformation
    schedule: optax.Schedule  # the learning rate of the step (reported; tx applies it)
    grad_accum: int
    mesh: Mesh


def grads_and_sums(graphdef: Any, params: Any, batch: Batch) -> tuple[Any, jax.Array, jax.Array]:
    """Gradients of the summed masked loss, the summed loss and the counted tokens of one (micro-)batch."""
    def f(p: Any) -> tuple[jax.Array, jax.Array]:
        return masked_loss_sums(graphdef, p, batch)
    (loss_sum, count), grads = jax.value_and_grad(f, has_aux=True)(params)
    return grads, loss_sum, count


def accumulated_grads(static: StepStatic, params: Any, batch: Batch) -> tuple[Any, jax.Array, jax.Array]:
    """`grads_and_sums` over the global batch, summed over `grad_accum` micro-batches in a scan."""
    if static.grad_accum == 1:
        return grads_and_sums(static.graphdef, params, batch)

    def body(carry: tuple, mb: Batch) -> tuple[tuple, None]:
        return jax.tree.map(jnp.add, carry, grads_and_sums(static.graphdef, params, mb)), None

    zero = (jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))
    (grads, loss_sum, count), _ = jax.lax.scan(body, zero, _micro_batches(batch, static.grad_accum, static.mesh))
    return grads, loss_sum, count


def train_step(static: StepStatic, params: Any, opt_state: Any, batch: Batch) -> tuple[Any, Any, dict]:
    """One optimizer step on the mean token loss of the global batch -> (params, opt_state, metrics).

    metrics: `loss` (mean over counted tokens), `grad_norm` (before clipping), `lr` (this step's), `tokens`,
    `finite` (loss and grad_norm are finite: read by jaxformer.finite.FiniteWatch).
    """
    with shd.activation_mesh(static.mesh):
        grads, loss_sum, count = accumulated_grads(static, params, batch)
        count = jnp.maximum(count, 1.0)
        grads = jax.tree.map(lambda g: g / count, grads)  # mean over every counted token of the global batch
        lr = static.schedule(_schedule_count(opt_state))
        updates, opt_state = static.tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    loss, grad_norm = loss_sum / count, optax.global_norm(grads)
    return params, opt_state, {"loss": loss, "grad_norm": grad_norm, "lr": lr, "tokens": count,
                               "finite": jnp.isfinite(loss) & jnp.isfinite(grad_norm)}


def eval_step(static: StepStatic, params: Any, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """`masked_loss_sums` of a validation batch."""
    with shd.activation_mesh(static.mesh):
        return masked_loss_sums(static.graphdef, params, batch)


def _with_shardings(abstract: Any, shardings: Any) -> Any:
    return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings)


@functools.lru_cache(maxsize=8)
def make_setup(cfg: RunConfig, mesh: Mesh) -> TrainSetup:
    """Cached per (config, mesh): a restart in the same process (tests, notebooks) reuses the compiled steps."""
    abstract_model = model_abstract(cfg)
    graphdef, _ = nnx.split(abstract_model, nnx.Param)
    tx = make_optimizer(cfg.optim, abstract_model, cfg.train.steps)
    static = StepStatic(graphdef, tx, lr_schedule(cfg.optim, cfg.train.steps), cfg.train.grad_accum, mesh)
    param_sh = shd.named(mesh, shd.param_specs(abstract_model, mesh))
    abstract_params = jax.eval_shape(lambda: init_params(cfg))
    abstract_opt = jax.eval_shape(tx.init, abstract_params)
    repl = shd.replicated(mesh)
    opt_sh = optax.tree_map_params(tx, lambda _, s: s, abstract_opt, param_sh,
                                   transform_non_params=lambda _: repl,
                                   is_leaf=lambda x: isinstance(x, NamedSharding))
    batch_sh = {k: shd.batch_sharding(mesh) for k in ("inputs", "targets", "loss_mask")}

    def init_fn() -> tuple[Any, Any]:
        params = init_params(cfg)
        return params, tx.init(params)

    return TrainSetup(
        cfg=cfg, mesh=mesh, static=static, param_shardings=param_sh, opt_shardings=opt_sh,
        abstract_params=_with_shardings(abstract_params, param_sh),
        abstract_opt_state=_with_shardings(abstract_opt, opt_sh),
        init_fn=jax.jit(init_fn, out_shardings=(param_sh, opt_sh)),
        train_step=jax.jit(functools.partial(train_step, static), in_shardings=(param_sh, opt_sh, batch_sh),
                           out_shardings=(param_sh, opt_sh, repl), donate_argnums=(0, 1)),
        eval_step=jax.jit(functools.partial(eval_step, static), in_shardings=(param_sh, batch_sh),
                          out_shardings=(repl, repl)),
    )
