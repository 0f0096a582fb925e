"""Device mesh (data, fsdp, tensor) and logical-axis rules that place parameters and activations on it.

Parameters carry `logical_axes` metadata (see jaxformer.layers.param); `LOGICAL_RULES` maps each
logical name to mesh axes. A dimension that a mesh axis does not divide stays replicated, so any
preset runs on any mesh (e.g. 20 heads on tensor=8).
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxformer.config import MeshConfig

MESH_AXES = ("data", "fsdp", "tensor")

LOGICAL_RULES: dict[str, tuple[str, ...] | str | None] = {
    "batch": ("data", "fsdp"),
    "length": None,
    "embed": "fsdp",
    "mlp": "tensor",
    "heads": "tensor",
    "vocab": "tensor",
    "norm": None,
    "layers": None,
}


def maybe_initialize_distributed() -> None:
    """Multi-host: jax.distributed.initialize() when the launcher says there are several processes
    (explicit coordinator, SLURM/Open MPI with more than one task, or a multi-worker TPU slice)."""
    env = os.environ
    several = (bool(env.get("JAX_COORDINATOR_ADDRESS"))
               or int(env.get("SLURM_NTASKS", "1")) > 1
               or int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1
               or "," in env.get("TPU_WORKER_HOSTNAMES", ""))
    if several and not jax.distributed.is_initialized():
        jax.distributed.initialize()


def mesh_shape(cfg: MeshConfig, n_devices: int) -> tuple[int, int, int]:
    sizes = [cfg.data, cfg.fsdp, cfg.tensor]
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if n_devices % known:
            raise ValueError(f"mesh {dict(zip(MESH_AXES, sizes))}: {n_devices} devices not divisible by {known}")
        sizes[sizes.index(-1)] = n_devices // known
    if math.prod(sizes) != n_devices:
        raise ValueError(f"mesh {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices but "
                         f"{n_devices} are available; set one of mesh.data/fsdp/tensor to -1")
    return tuple(sizes)  # type: ignore[return-value]


def make_mesh(cfg: MeshConfig, devices: list | None = None) -> Mesh:
    """Auto (GSPMD-propagated) axes: shardings come from the jit in/out specs and a few constraints."""
    devices = list(devices if devices is not None else jax.devices())
    shape = mesh_shape(cfg, len(devices))
    auto = (jax.sharding.AxisType.Auto,) * len(MESH_AXES)
    if devices == list(jax.devices()):
        return jax.make_mesh(shape, MESH_AXES, axis_types=auto, devices=devices)
    return Mesh(np.asarray(devices).reshape(shape), MESH_AXES, axis_types=auto)


def logical_to_spec(axes: tuple[str | None, ...], shape: tuple[int, ...], mesh: Mesh) -> P:
    """Map logical axis names to a PartitionSpec; mesh axes that do not divide a dimension are dropped."""
    used: set[str] = set()
    spec = []
    for name, dim in zip(axes, shape):
        rule = LOGICAL_RULES.get(name) if name else None
        mesh_axes = (rule,) if isinstance(rule, str) else tuple(rule or ())
        kept: list[str] = []
        for ax in mesh_axes:
            size = mesh.shape[ax]
            if ax not in used and size > 1 and dim % (size * math.prod(mesh.shape[a] for a in kept)) == 0:
                kept.append(ax)
        used.update(kept)
        spec.append(None if not kept else kept[0] if len(kept) == 1 else tuple(kept))
    return P(*spec)


def param_specs(model: nnx.Module, mesh: Mesh) -> dict:
    """PartitionSpecs for the model's params as a pure dict (the layout used by training and checkpoints)."""
    state = nnx.state(model, nnx.Param)

    def spec(v: nnx.Variable) -> P:
        axes = tuple(v.get_metadata().get("logical_axes", ()))
        shape = v.get_value().shape
        axes = (None,) * (len(shape) - len(axes)) + axes  # scanned layers add a leading axis
        return logical_to_spec(axes, shape, mesh)

    specs = jax.tree.map(spec, state, is_leaf=lambda x: isinstance(x, nnx.Variable))
    return nnx.to_pure_dict(specs)


def named(mesh: Mesh, specs: Any) -> Any:
    return jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, P))


_ACTIVATION_MESH: contextvars.ContextVar[Mesh | None] = contextvars.ContextVar("activation_mesh", default=None)


@contextlib.contextmanager
def activation_mesh(mesh: Mesh):
    """While tracing a step, `constrain` pins activations to this mesh (outside it, `constrain` is a no-op)."""
    token = _ACTIVATION_MESH.set(mesh)
    try:
        yield
    finally:
        _ACTIVATION_MESH.reset(token)


def constrain(x: jax.Array, axes: tuple[str | None, ...]) -> jax.Array:
    """Sharding constraint from logical axes, e.g. ("batch", "length", None) for the residual stream."""
    mesh = _ACTIVATION_MESH.get()
    if mesh is None:
        return x
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, logical_to_spec(axes, x.shape, mesh)))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batch rows split over data and fsdp, sequence replicated."""
    return NamedSharding(mesh, P(("data", "fsdp"), None))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def global_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Process-local rows -> global arrays sharded over (data, fsdp): correct on one host or many."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}
