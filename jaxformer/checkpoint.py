"""Orbax checkpoints of a run: params, optimizer state, step, RNG and the Grain iterator, saved together.

Layout: `RUN/checkpoints/<step>/{params,train_state,data}`. `params` is its own item so evaluation can
restore the weights alone. Orbax writes into a temporary directory and renames it when complete, so a
numeric step directory with its metadata file is a finished checkpoint; restores go through explicit
abstract targets (shape, dtype, sharding), which lets a checkpoint saved on one mesh load onto another.
"""
from __future__ import annotations

import logging
import pathlib
import time
from typing import TYPE_CHECKING, Any

import grain
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from jaxformer.config import CheckpointConfig, RunConfig
from jaxformer.rundir import RunDir

if TYPE_CHECKING:
    from jaxformer.model import Transformer

log = logging.getLogger(__name__)

_FINISHED_MARKER = "_CHECKPOINT_METADATA"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or unreadable."""


def checkpoint_dir(run_dir: str | pathlib.Path) -> pathlib.Path:
    # Orbax wants absolute paths; run directories are given relative to wherever the command runs.
    return RunDir(pathlib.Path(run_dir).resolve()).checkpoints


def list_complete_steps(run_dir: str | pathlib.Path) -> list[int]:
    """Steps whose checkpoint finished writing (temporary/partial directories are skipped), ascending."""
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    steps = []
    for p in root.iterdir():
        if p.is_dir() and p.name.isdigit() and (p / _FINISHED_MARKER).is_file() and (p / "params").is_dir():
            steps.append(int(p.name))
    return sorted(steps)


def _restore_params(step_dir: pathlib.Path, target: Any) -> Any:
    with ocp.StandardCheckpointer() as ckptr:
        return ckptr.restore(step_dir / "params", target)


def load_for_inference(run_dir: str | pathlib.Path, step: int | None = None) -> tuple[Transformer, int, RunConfig]:
    """Model from RUN/config.json with params of `step` (default: latest complete) on the default CPU device.

    Read-only: never creates or deletes anything in the run directory.
    """
    from jaxformer.model import (
        Transformer,  # local: keeps this module light for list_complete_steps users
    )

    cfg_path = RunDir(run_dir).config
    if not cfg_path.is_file():
        raise CheckpointError(f"{cfg_path} not found: {run_dir} is not a run directory written by `transcend train`")
    cfg = RunConfig.from_json(cfg_path.read_text())
    steps = list_complete_steps(run_dir)
    if step is None:
        if not steps:
            raise CheckpointError(f"no complete checkpoint in {checkpoint_dir(run_dir)}")
        step = steps[-1]
    elif step not in steps:
        raise CheckpointError(f"step {step} has no complete checkpoint in {checkpoint_dir(run_dir)}; complete steps: {steps}")
    cpu = jax.devices("cpu")[0]
    with jax.default_device(cpu):
        model = nnx.eval_shape(lambda: Transformer(cfg.model, rngs=nnx.Rngs(0)))
        graphdef, abstract_state = nnx.split(model)
        abstract = nnx.to_pure_dict(abstract_state)
        sharding = jax.sharding.SingleDeviceSharding(cpu)
        target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), abstract)
        try:
            params = _restore_params(checkpoint_dir(run_dir) / str(step), target)
        except Exception as e:  # orbax raises many types for truncated or mismatched files
            raise CheckpointError(f"checkpoint step {step} in {checkpoint_dir(run_dir)} is unreadable: {e}") from e
        nnx.replace_by_pure_dict(abstract_state, params)
        model = nnx.merge(graphdef, abstract_state)
    return model, step, cfg


class RunCheckpointer:
    """Training-side checkpoints: async saves, retention (keep last K + every M-th), resume with fallback."""

    def __init__(self, run_dir: str | pathlib.Path, cfg: CheckpointConfig):
        self.root = checkpoint_dir(run_dir)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=cfg.keep_last, keep_period=cfg.keep_every,
            enable_async_checkpointing=cfg.async_save, create=True)
        self.manager = ocp.CheckpointManager(self.root.absolute(), options=options)

    def save(self, step: int, params: Any, opt_state: Any, rng: jax.Array, data_iter: Any) -> None:
        train_state = {"opt_state": opt_state, "step": np.asarray(step, np.int64), "rng": jax.random.key_data(rng)}
        items = {"params": ocp.args.StandardSave(params), "train_state": ocp.args.StandardSave(train_state)}
        if data_iter is not None:
            items["data"] = grain.checkpoint.CheckpointSave(data_iter)
        with jax.transfer_guard("allow"):
            self.manager.save(step, args=ocp.args.Composite(**items), force=True)

    def restore_latest(self, abstract_params: Any, abstract_opt_state: Any, rng_template: jax.Array,
                       data_iter: Any) -> tuple[int, Any, Any, jax.Array] | None:
        """Newest readable checkpoint into the abstract targets; unreadable ones are reported and skipped."""
        steps = list_complete_steps(self.root.parent)
        leftovers = [p.name for p in self.root.glob("*") if p.is_dir() and not p.name.isdigit()]
        if leftovers:
            log.warning("ignoring incomplete checkpoint directories in %s: %s", self.root, leftovers)
        rng_data = jax.random.key_data(rng_template)
        target_state = {"opt_state": abstract_opt_state, "step": np.zeros((), np.int64),
                        "rng": np.zeros(rng_data.shape, rng_data.dtype)}
        data_state = data_iter.get_state() if data_iter is not None else None
        for step in reversed(steps):
            try:
                with jax.transfer_guard("allow"):
                    items = {"params": ocp.args.StandardRestore(abstract_params),
                             "train_state": ocp.args.StandardRestore(target_state)}
                    if data_iter is not None:
                        items["data"] = grain.checkpoint.CheckpointRestore(data_iter)
                    out = self.manager.restore(step, args=ocp.args.Composite(**items))
            except Exception as e:  # noqa: BLE001 - any failure means this step is unusable; try the previous
                log.warning("checkpoint step %d is unreadable (%s: %s); trying the previous one in %s",
                            step, type(e).__name__, str(e)[:300], self.root)
                if data_iter is not None:
                    data_iter.set_state(data_state)  # a failed restore may have moved the iterator already
                self._set_aside(step)
                continue
            ts = out.train_state
            rng = jax.random.wrap_key_data(jnp.asarray(ts["rng"]), impl=jax.random.key_impl(rng_template))
            return int(ts["step"]), out.params, ts["opt_state"], rng
        return None

    def _set_aside(self, step: int) -> None:
        """Rename an unreadable step to `<step>.unreadable-<time>`: kept for inspection, never overwritten."""
        if jax.process_index() == 0:
            src = self.root / str(step)
            dst = self.root / f"{step}.unreadable-{int(time.time())}"
            src.rename(dst)
            log.warning("moved unreadable checkpoint %s to %s", src, dst)
        self.manager.reload()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
