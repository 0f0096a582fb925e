"""Orbax checkpoints of a run: params, optimizer state, step, RNG and the Grain iterator, saved together
with a digest of each.

Layout: `RUN/checkpoints/<step>/{params,train_state,data,digest}` and `<step>/files.sha256.json`. `params` is its
own item so evaluation can restore the weights alone. Orbax writes into a temporary directory and renames it when
complete, so a numeric step directory with its metadata file is a finished checkpoint, digest included; restores
go through explicit abstract targets (shape, dtype, sharding), which lets a checkpoint saved on one mesh load onto
another.

Two checks (jaxformer/digest.py), so a step damaged on disk is reported (which file or array), never used;
training renames it aside and takes the previous step:
- before Orbax reads a step, its files are compared with the file manifest (size and sha256 of every file)
  written once the step was final: a cut, missing or changed file is found without Orbax, whose failed reads
  would leave pending work that prints tracebacks at exit. Steps without one (written before file manifests, or
  by a run killed between the final rename and the manifest) go straight to Orbax, as before.
- every restore is compared with the digest of its arrays and iterator state. Steps written before digests
  existed load unverified, with a warning.
Orbax restores run with event loops that let their unfinished reads end before closing (`_reads_drained`), so a
restore that fails on a step without a file manifest leaves nothing behind either.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pathlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grain
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from jaxformer.config import CheckpointConfig, RunConfig
from jaxformer.digest import (
    Digests,
    FileDigests,
    dir_digests,
    file_problems,
    mismatches,
    relative_files,
    state_digest,
    tree_digests,
)
from jaxformer.finite import NonFiniteError, all_finite
from jaxformer.rundir import RunDir
from safeio import write_json_atomic

if TYPE_CHECKING:
    from jaxformer.model import Transformer

log = logging.getLogger(__name__)

_FINISHED_MARKER = "_CHECKPOINT_METADATA"
DIGEST_ITEM = "digest"
DIGEST_FORMAT = 1
FILE_MANIFEST = "files.sha256.json"  # inside the step directory: retention and set-aside take it with the step
FILE_MANIFEST_FORMAT = 1
INFERENCE_ITEMS = ("params", DIGEST_ITEM)  # what load_for_inference reads (and so verifies)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, unreadable or damaged."""


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


# ---------------------------------------------------------------------------------------------- digests

def read_digest(step_dir: pathlib.Path) -> dict[str, Any] | None:
    """The digest saved with a step; None for a step written before digests existed (no digest item)."""
    if not (step_dir / DIGEST_ITEM).is_dir():
        return None
    try:
        with ocp.Checkpointer(ocp.JsonCheckpointHandler()) as ckptr:
            digest = ckptr.restore(step_dir / DIGEST_ITEM)
    except Exception as e:  # noqa: BLE001 - any failure to read it leaves the step unverifiable
        raise CheckpointError(f"checkpoint step {step_dir.name}: its digest is unreadable ({type(e).__name__}: "
                              f"{str(e)[:200]})") from e
    if not isinstance(digest, dict) or digest.get("format") != DIGEST_FORMAT:
        raise CheckpointError(f"checkpoint step {step_dir.name}: its digest is damaged (not a format-{DIGEST_FORMAT} "
                              "digest object)")
    return digest


def verify_tree(step: int, item: str, expected: Digests | None, restored: Any) -> None:
    """Raise CheckpointError naming the arrays of `item` whose restored bytes differ from the saved digest."""
    if expected is None:
        return  # saved multi-host: the state was not digestible in one process
    actual = tree_digests(restored)
    if actual is None:
        return
    bad = mismatches(expected, actual)
    if bad:
        shown = ", ".join(f"{item}{k}" for k in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise CheckpointError(f"checkpoint step {step} is damaged: {len(bad)} of {len(expected)} {item} arrays differ "
                              f"from the digest written with them ({shown})")


def write_file_manifest(step_dir: pathlib.Path) -> None:
    """Record the size and sha256 of every file of a finished step, atomically, inside the step directory."""
    files = dir_digests(step_dir, skip=(FILE_MANIFEST,))
    write_json_atomic(step_dir / FILE_MANIFEST, {"format": FILE_MANIFEST_FORMAT, "files": files}, indent=None)


def _read_file_manifest(step_dir: pathlib.Path) -> FileDigests | None:
    path = step_dir / FILE_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_bytes())
        files = manifest["files"]
        if manifest["format"] != FILE_MANIFEST_FORMAT or not all(
                isinstance(d, dict) and isinstance(d.get("bytes"), int) and isinstance(d.get("sha256"), str)
                for d in files.values()):
            raise ValueError("not a format-1 manifest")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"checkpoint step {step_dir.name} is damaged: its file manifest {path.name} is unreadable "
                              f"({type(e).__name__}: {str(e)[:100]})") from e
    return files


def verify_files(step_dir: pathlib.Path, items: tuple[str, ...] | None = None) -> None:
    """Compare the files of a step (of its `items` only, when given) with its file manifest, before anything reads
    them: CheckpointError naming the files that are missing, cut, changed or were not written with the step. A step
    without a manifest passes (nothing to compare with): Orbax and the digests are its only checks."""
    expected = _read_file_manifest(step_dir)
    if expected is None:
        return

    def checked(rel: str) -> bool:
        return items is None or rel.split("/", 1)[0] in items

    present = [rel for rel in relative_files(step_dir) if not rel.startswith(FILE_MANIFEST) and checked(rel)]
    bad = file_problems(step_dir, {rel: d for rel, d in expected.items() if checked(rel)}, present)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise CheckpointError(f"checkpoint step {step_dir.name} in {step_dir.parent} is unreadable: {len(bad)} file(s) "
                              f"differ from the file manifest written with them: {shown}")


def _unverified(step: int, root: pathlib.Path) -> None:
    log.warning("checkpoint step %d in %s has no digest (written before digests existed): loaded unverified", step, root)


# ---------------------------------------------------------------------------------------------- reads

class _DrainingEventLoop(asyncio.SelectorEventLoop):
    """An event loop that, before it closes, lets every task it ran end and collects each one's outcome. Orbax runs a
    restore in a fresh loop and closes it as soon as one read fails; the reads still in flight then finish against
    the closed loop, and those that failed unobserved, print 'Event loop is closed', 'Exception ignored' and 'Task
    exception was never retrieved' tracebacks."""

    def __init__(self) -> None:
        super().__init__()
        self._tasks: list[asyncio.Task[Any]] = []  # a loop lives for one restore: the list goes with it

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = super().create_task(coro, **kwargs)
        self._tasks.append(task)
        return task

    def close(self) -> None:
        if self._tasks and not self.is_closed() and not self.is_running():
            # local file reads: each ends, with data or an error, which gather retrieves (so none is reported)
            self.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
            self._tasks.clear()
        super().close()


class _DrainingPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return _DrainingEventLoop()


@contextlib.contextmanager
def _reads_drained() -> Iterator[None]:
    """Event loops made meanwhile (Orbax makes one per restore) drain their tasks before closing."""
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_DrainingPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)


# ---------------------------------------------------------------------------------------------- inference

def _restore_params(step_dir: pathlib.Path, target: Any) -> Any:
    with _reads_drained(), ocp.StandardCheckpointer() as ckptr:
        return ckptr.restore(step_dir / "params", target)


def _load_verified_params(root: pathlib.Path, step: int, target: Any) -> Any:
    """Params of one step, checked against their digest (the optimizer state is neither read nor checked)."""
    step_dir = root / str(step)
    verify_files(step_dir, INFERENCE_ITEMS)
    digest = read_digest(step_dir)
    try:
        params = _restore_params(step_dir, target)
    except Exception as e:  # orbax raises many types for truncated or mismatched files
        raise CheckpointError(f"checkpoint step {step} in {root} is unreadable: {type(e).__name__}: {str(e)[:300]}") from e
    if digest is None:
        _unverified(step, root)
    else:
        verify_tree(step, "params", digest.get("params"), params)
    return params


def load_for_inference(run_dir: str | pathlib.Path, step: int | None = None) -> tuple[Transformer, int, RunConfig]:
    """Model from RUN/config.json with params of `step` on the default CPU device, verified against their digest.

    `step=None`: the latest intact step (damaged newer ones are reported and skipped); a given `step` that is
    damaged raises CheckpointError. Read-only: never creates, renames or deletes anything in the run directory.
    """
    from jaxformer.model import (
        Transformer,  # local: keeps this module light for list_complete_steps users
    )

    cfg_path = RunDir(run_dir).config
    if not cfg_path.is_file():
        raise CheckpointError(f"{cfg_path} not found: {run_dir} is not a run directory written by `transcend train`")
    cfg = RunConfig.from_json(cfg_path.read_text())
    root = checkpoint_dir(run_dir)
    steps = list_complete_steps(run_dir)
    if step is None and not steps:
        raise CheckpointError(f"no complete checkpoint in {root}")
    if step is not None and step not in steps:
        raise CheckpointError(f"step {step} has no complete checkpoint in {root}; complete steps: {steps}")
    cpu = jax.devices("cpu")[0]
    with jax.default_device(cpu):
        model = nnx.eval_shape(lambda: Transformer(cfg.model, rngs=nnx.Rngs(0)))
        graphdef, abstract_state = nnx.split(model)
        sharding = jax.sharding.SingleDeviceSharding(cpu)
        target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                              nnx.to_pure_dict(abstract_state))
        for candidate in ([step] if step is not None else list(reversed(steps))):
            try:
                params = _load_verified_params(root, candidate, target)
            except CheckpointError as e:
                if step is not None:
                    raise
                log.warning("%s; trying the previous step", e)
                continue
            nnx.replace_by_pure_dict(abstract_state, params)
            return nnx.merge(graphdef, abstract_state), candidate, cfg
    raise CheckpointError(f"no intact checkpoint in {root}: every complete step {steps} is damaged or unreadable "
                          "(see the warnings above); retrain, or restore the run directory from a copy")


class RunCheckpointer:
    """Training-side checkpoints: async saves with digests and file manifests, retention (keep last K + every
    M-th), resume with fallback past unreadable or damaged steps.

    A step's file manifest is written once Orbax has renamed the step into place: at once for a synchronous save,
    else at the next save (which waits for this one, as Orbax's own save does), `wait()` or `close()`."""

    def __init__(self, run_dir: str | pathlib.Path, cfg: CheckpointConfig):
        self.root = checkpoint_dir(run_dir)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=cfg.keep_last, keep_period=cfg.keep_every,
            enable_async_checkpointing=cfg.async_save, create=True)
        self.manager = ocp.CheckpointManager(self.root.absolute(), options=options)
        self._async = cfg.async_save
        self._unsealed: list[int] = []  # saved by this process, no file manifest yet

    def save(self, step: int, params: Any, opt_state: Any, rng: jax.Array, data_iter: Any) -> None:
        """Save a step with its digest. A state holding NaN/inf is refused (NonFiniteError) before anything is
        written, so it never becomes the latest step nor pushes a good one out of retention."""
        train_state = {"opt_state": opt_state, "step": np.asarray(step, np.int64), "rng": jax.random.key_data(rng)}
        with jax.transfer_guard("allow"):
            if not bool(all_finite((params, opt_state))):
                raise NonFiniteError(f"the parameters or optimizer state after step {step} hold NaN/inf; step {step} "
                                     "is not saved (the last saved step is kept). Lower optim.lr or check the data, "
                                     "then rerun to resume from the last saved step")
            digest = {"format": DIGEST_FORMAT, "params": tree_digests(params), "train_state": tree_digests(train_state),
                      "data": state_digest(data_iter.get_state()) if data_iter is not None else None}
            items = {"params": ocp.args.StandardSave(params), "train_state": ocp.args.StandardSave(train_state),
                     DIGEST_ITEM: ocp.args.JsonSave(digest)}
            if data_iter is not None:
                items["data"] = grain.checkpoint.CheckpointSave(data_iter)
            self._seal()
            self.manager.save(step, args=ocp.args.Composite(**items), force=True)
        self._unsealed.append(step)
        if not self._async:
            self._seal()

    def _seal(self) -> None:
        """Wait for the pending save, then write the file manifest of each step saved since the last seal."""
        self.manager.wait_until_finished()
        steps, self._unsealed = self._unsealed, []
        if jax.process_index() != 0:
            return
        for step in steps:
            step_dir = self.root / str(step)
            if not (step_dir / _FINISHED_MARKER).is_file():
                log.warning("checkpoint step %d did not finish writing (see Orbax's error above); no file manifest", step)
                continue
            try:
                write_file_manifest(step_dir)
            except OSError as e:
                log.warning("could not write the file manifest of checkpoint step %d (%s); it will be read without "
                            "checking its files first", step, e)

    def restore_latest(self, abstract_params: Any, abstract_opt_state: Any, rng_template: jax.Array,
                       data_iter: Any) -> tuple[int, Any, Any, jax.Array] | None:
        """Newest intact checkpoint into the abstract targets; unreadable or damaged ones are reported, renamed
        aside and skipped."""
        steps = list_complete_steps(self.root.parent)
        leftovers = [p.name for p in self.root.glob("*") if p.is_dir() and not p.name.isdigit()
                     and ".unreadable-" not in p.name]
        if leftovers:
            log.warning("ignoring incomplete checkpoint directories in %s: %s", self.root, leftovers)
        rng_data = jax.random.key_data(rng_template)
        target_state = {"opt_state": abstract_opt_state, "step": np.zeros((), np.int64),
                        "rng": np.zeros(rng_data.shape, rng_data.dtype)}
        data_state = data_iter.get_state() if data_iter is not None else None
        for step in reversed(steps):
            try:
                params, train_state = self._restore_verified(step, abstract_params, target_state, data_iter)
            except Exception as e:  # noqa: BLE001 - any failure means this step is unusable; try the previous
                log.warning("checkpoint step %d is damaged or unreadable (%s: %s); trying the previous one in %s",
                            step, type(e).__name__, str(e)[:300], self.root)
                if data_iter is not None:
                    data_iter.set_state(data_state)  # a failed restore may have moved the iterator already
                self._set_aside(step)
                continue
            rng = jax.random.wrap_key_data(jnp.asarray(train_state["rng"]), impl=jax.random.key_impl(rng_template))
            return int(train_state["step"]), params, train_state["opt_state"], rng
        return None

    def _restore_verified(self, step: int, abstract_params: Any, target_state: Any, data_iter: Any) -> tuple[Any, Any]:
        """One step's files checked against its file manifest, then its params and train state (and the iterator's
        position), each checked against the digest."""
        verify_files(self.root / str(step))
        digest = read_digest(self.root / str(step))
        with jax.transfer_guard("allow"):
            items = {"params": ocp.args.StandardRestore(abstract_params),
                     "train_state": ocp.args.StandardRestore(target_state)}
            if data_iter is not None:
                items["data"] = grain.checkpoint.CheckpointRestore(data_iter)
            with _reads_drained():
                out = self.manager.restore(step, args=ocp.args.Composite(**items))
            if digest is None:
                _unverified(step, self.root)
                return out.params, out.train_state
            verify_tree(step, "params", digest.get("params"), out.params)
            verify_tree(step, "train_state", digest.get("train_state"), out.train_state)
        if data_iter is not None and digest.get("data") != state_digest(data_iter.get_state()):
            raise CheckpointError(f"checkpoint step {step} is damaged: the data iterator's state differs from its digest")
        return out.params, out.train_state

    def _set_aside(self, step: int) -> None:
        """Rename an unusable step to `<step>.unreadable-<time>`: kept for inspection, never overwritten."""
        if jax.process_index() == 0:
            src = self.root / str(step)
            dst = self.root / f"{step}.unreadable-{int(time.time())}"
            src.rename(dst)
            log.warning("moved unusable checkpoint %s to %s", src, dst)
        self.manager.reload()

    def wait(self) -> None:
        """Block until the pending async save is complete on disk, with its file manifest."""
        self._seal()

    def close(self) -> None:
        self._seal()
        self.manager.close()
