"""`transcend train`: train the decoder on shards, resuming from the run directory's latest checkpoint.

    transcend train --config tiny --run-dir runs/tiny --set data.dir=data/shards --set data.cutoff=1000

The run: check the config against the data and the run directory (nothing written yet) -> take the run
directory's lock -> restore (or initialise) sharded state -> say the plan -> for each step: next Grain batch ->
global array -> jitted step -> metrics every `log_every`, validation every `eval_every`, async checkpoint every
`checkpoint.every`, on SIGTERM/SIGINT (then exit 128+signal) and at the end. config.json is written once the
first step has run, so a run that fails any check leaves none. Every step's loss and gradient norm are checked
finite (read at log steps and before each save): a diverged run stops without saving the bad state.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import json
import logging
import os
import pathlib
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from jaxformer import data as data_lib
from jaxformer import sharding as shd
from jaxformer.checkpoint import CheckpointError, RunCheckpointer
from jaxformer.config import RunConfig, describe_keys, describe_presets, get_preset, resolve_compute_dtype, resolve_config
from jaxformer.finite import FiniteWatch, NonFiniteError
from jaxformer.flops import device_peak_flops, flops_per_token
from jaxformer.memory import OutOfMemoryError, is_out_of_memory, out_of_memory_message
from jaxformer.metrics import MetricsLogger
from jaxformer.plan import describe_plan, format_duration, make_plan
from jaxformer.rundir import RunDir
from jaxformer.runlock import RunLock, RunLockedError
from jaxformer.step import TrainSetup, make_setup
from safeio import write_text_atomic

log = logging.getLogger("jaxformer.train")


@dataclasses.dataclass
class TrainResult:
    step: int  # last completed step
    stopped_by: str  # "done", "stop_at", or the signal name
    last_metrics: dict[str, Any]


class _StopFlag:
    """SIGTERM/SIGINT set a flag; the loop saves a checkpoint at the next step boundary and exits."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclasses.dataclass
class TrainState:
    """Where training stands: the step completed last, its state, and the step saved last (-1: none)."""

    step: int
    params: Any
    opt_state: Any
    rng: jax.Array
    saved_step: int


@dataclasses.dataclass
class RunIO:
    """What the loop reads and writes besides the state: data, checkpoints, metrics, the progress bar."""

    run: RunDir
    cfg: RunConfig  # as config.json will hold it (with the run_id)
    train_iter: Any  # Grain iterator; its position is saved with every checkpoint
    val_batches: list[dict[str, np.ndarray]]
    ckpt: RunCheckpointer
    metrics: MetricsLogger | None = None  # opened once the step to resume from is known
    bar: Any = None
    config_written: bool = False

    def write_config(self) -> None:
        """config.json, once the first step has run (every check has passed by then)."""
        if not self.config_written:
            write_run_config(self.run.root, self.cfg)
            self.config_written = True

    def save(self, state: TrainState) -> None:
        self.write_config()
        self.ckpt.save(state.step, state.params, state.opt_state, state.rng, self.train_iter)
        state.saved_step = state.step
        if self.metrics is not None:
            self.metrics.flush()

    def close(self) -> None:
        self.ckpt.close()  # waits for the async write: a checkpoint is complete when we return
        if self.metrics is not None:
            self.metrics.close()
        if self.bar is not None:
            self.bar.close()


def check_run_config(run_dir: pathlib.Path, cfg: RunConfig) -> RunConfig:
    """`cfg` with the run's id: the existing config.json's (whose model and data sections must match; other
    changes are reported), or a new one for a new run directory. Writes nothing."""
    path = RunDir(run_dir).config
    if not path.is_file():
        return dataclasses.replace(cfg, run_id=uuid.uuid4().hex)  # a copied config.json must not copy identity
    old = RunConfig.from_json(path.read_text())
    cfg = dataclasses.replace(cfg, run_id=old.run_id)  # kept on every resume ("" for runs older than run ids)
    if old.data.dir and cfg.data.dir and os.path.abspath(old.data.dir) == os.path.abspath(cfg.data.dir):
        old = dataclasses.replace(old, data=dataclasses.replace(old.data, dir=cfg.data.dir))  # same place, other spelling
    for section in ("model", "data"):
        if getattr(old, section) != getattr(cfg, section):
            diff = "\n".join(difflib.unified_diff(
                json.dumps(dataclasses.asdict(getattr(old, section)), indent=1).splitlines(),
                json.dumps(dataclasses.asdict(getattr(cfg, section)), indent=1).splitlines(), lineterm=""))
            raise ValueError(f"{path} was written with a different `{section}` section; a run directory holds "
                             f"one model and one data stream. Use a new --run-dir, or the same settings:\n{diff}")
    if old != cfg:
        log.info("%s is updated with changed train/optim/mesh/checkpoint settings", path)
    return cfg


def write_run_config(run_dir: pathlib.Path, cfg: RunConfig) -> None:
    if jax.process_index() == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(RunDir(run_dir).config, cfg.to_json() + "\n")


def _progress(cfg: RunConfig, start: int) -> Any:
    if not cfg.train.progress or jax.process_index() != 0:
        return None
    from tqdm import tqdm

    return tqdm(total=cfg.train.steps, initial=start, desc=cfg.name, unit="step", dynamic_ncols=True)


def evaluate(setup: TrainSetup, params: Any, batches: list[dict[str, np.ndarray]]) -> float:
    """Mean validation loss over every counted token of `batches`."""
    loss_sum, count = 0.0, 0.0
    for b in batches:
        s, c = jax.device_get(setup.eval_step(params, shd.global_batch(b, setup.mesh)))
        loss_sum, count = loss_sum + float(s), count + float(c)
    return loss_sum / max(count, 1.0)


# ---------------------------------------------------------------------------------------------- the run

def run_training(cfg: RunConfig, run_dir: str | pathlib.Path, *, stop_at: int | None = None,
                 devices: list | None = None) -> TrainResult:
    """Train (or resume) `cfg` in `run_dir`; `stop_at` ends after that step as if preempted (for tests/jobs)."""
    run = RunDir(run_dir)
    cfg, manifest = check_run(resolve_for_devices(cfg, devices), run)
    with RunLock(run) if jax.process_index() == 0 else contextlib.nullcontext():
        # run_id is no part of what is compiled: a restart in the same process reuses the cached setup
        setup = make_setup(dataclasses.replace(cfg, run_id=""), shd.make_mesh(cfg.mesh, devices))
        io = open_run_io(cfg, run)
        try:
            with out_of_memory_explained(cfg):
                state = restore_or_init(setup, io)
                io.metrics = MetricsLogger(run.root, resume_step=state.step)
                io.bar = _progress(cfg, state.step)
                end = min(cfg.train.steps, stop_at) if stop_at is not None else cfg.train.steps
                log_plan(setup, manifest, state.step, end)
                stopped_by, last = train_loop(setup, state, io, end)
            if state.saved_step != state.step:  # the final save
                io.save(state)
            if stopped_by == "done" and state.step < cfg.train.steps:
                stopped_by = "stop_at"
        finally:
            io.close()
    return TrainResult(step=state.step, stopped_by=stopped_by, last_metrics=last)


def resolve_for_devices(cfg: RunConfig, devices: list | None) -> RunConfig:
    """`cfg` with model.compute_dtype=auto made concrete for the run's devices: config.json records the dtype used."""
    platform = (devices or jax.devices())[0].platform
    resolved = resolve_compute_dtype(cfg, platform)
    if resolved != cfg:
        log.info("model.compute_dtype=auto computes in %s on %s", resolved.model.compute_dtype, platform)
    return resolved


def check_run(cfg: RunConfig, run: RunDir) -> tuple[RunConfig, dict[str, Any]]:
    """Check the config, the data and the run directory against each other (nothing is written); returns the
    config with its run_id and the data's manifest."""
    cfg.validate()
    manifest = data_lib.check_data_dir(cfg)
    return check_run_config(run.root, cfg), manifest


def open_run_io(cfg: RunConfig, run: RunDir) -> RunIO:
    train_iter = data_lib.train_iterator(cfg)  # a rating rule that selects no game fails here
    val_batches = data_lib.validation_batches(cfg)
    if cfg.train.eval_every > 0 and not val_batches:
        log.warning("no %s batches for this rule/cutoff; validation is off", cfg.data.val_split)
    return RunIO(run=run, cfg=cfg, train_iter=train_iter, val_batches=val_batches,
                 ckpt=RunCheckpointer(run.root, cfg.checkpoint))


@contextlib.contextmanager
def out_of_memory_explained(cfg: RunConfig) -> Iterator[None]:
    """XLA's RESOURCE_EXHAUSTED (a 40-line dump) becomes one sentence naming what fits."""
    try:
        yield
    except Exception as e:
        if is_out_of_memory(e):
            raise OutOfMemoryError(out_of_memory_message(cfg)) from None
        raise


def restore_or_init(setup: TrainSetup, io: RunIO) -> TrainState:
    """The newest intact checkpoint (which also moves the data iterator back), or a fresh initialisation."""
    rng = jax.random.key(setup.cfg.train.seed)
    restored = io.ckpt.restore_latest(setup.abstract_params, setup.abstract_opt_state, rng, io.train_iter)
    if restored is None:
        params, opt_state = setup.init_fn()
        return TrainState(step=0, params=params, opt_state=opt_state, rng=rng, saved_step=-1)
    step, params, opt_state, rng = restored
    log.info("resumed from checkpoint step %d in %s", step, io.ckpt.root)
    return TrainState(step=step, params=params, opt_state=opt_state, rng=rng, saved_step=step)


def log_plan(setup: TrainSetup, manifest: dict[str, Any], start: int, end: int) -> None:
    params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(setup.abstract_params))
    plan = make_plan(setup.cfg, setup.mesh, params, manifest, start, end)
    if jax.process_index() == 0:
        log.info("%s", describe_plan(setup.cfg, plan))


class _Throughput:
    """Time per training step since the last report; validation and checkpoint time are left out."""

    def __init__(self) -> None:
        self.mark, self.steps = time.perf_counter(), 0

    def step_time(self) -> float:
        now = time.perf_counter()
        dt = (now - self.mark) / max(self.steps, 1)
        self.mark, self.steps = now, 0
        return dt

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.mark += time.perf_counter() - t0


def train_loop(setup: TrainSetup, state: TrainState, io: RunIO, end: int) -> tuple[str, dict[str, Any]]:
    """Steps until `end` or a signal; metrics every `log_every`, validation every `eval_every`, checkpoints every
    `checkpoint.every` and on a signal. Returns how it stopped ("done" or the signal's name), the last metrics."""
    cfg = setup.cfg
    guard = jax.transfer_guard("disallow") if cfg.train.transfer_guard else contextlib.nullcontext()
    clock, watch, last = _Throughput(), FiniteWatch(), dict[str, Any]()
    first, reports = state.step, 0
    with _StopFlag() as stop, guard:
        while state.step < end:
            batch = shd.global_batch(next(io.train_iter), setup.mesh)
            state.params, state.opt_state, metrics = setup.train_step(state.params, state.opt_state, batch)
            state.step += 1
            clock.steps += 1
            log_now = state.step == first + 1 or state.step % cfg.train.log_every == 0 or state.step == end
            save_now = stop.signum is not None or bool(cfg.checkpoint.every and state.step % cfg.checkpoint.every == 0)
            if watch.add(state.step, metrics["finite"]) or log_now or save_now:
                check_finite(watch, state, cfg)
            if log_now:
                last = record_metrics(setup, io, state.step, metrics, clock.step_time())
                reports += 1
                if reports == 2:  # the first report includes compilation
                    log_measured_time(last["step_time_s"], end - state.step)
            io.write_config()
            if io.bar is not None:
                io.bar.update(1)
            with clock.paused():
                if io.val_batches and cfg.train.eval_every > 0 and (state.step % cfg.train.eval_every == 0
                                                                     or state.step == end):
                    last["val_loss"] = evaluate(setup, state.params, io.val_batches)
                    _write_metrics(io, {"step": state.step, "val_loss": last["val_loss"]})
                if save_now:
                    io.save(state)
            if stop.signum is not None:
                return signal.Signals(stop.signum).name, last
    return "done", last


def check_finite(watch: FiniteWatch, state: TrainState, cfg: RunConfig) -> None:
    """Stop (NonFiniteError) at the first step since the last check whose loss or gradient norm was NaN/inf."""
    bad = watch.first_bad_step()
    if bad is None:
        return
    saved = (f"the last checkpoint, step {state.saved_step}, is kept; rerunning resumes from it" if state.saved_step >= 0
             else "no checkpoint was saved, so a rerun starts from step 0")
    raise NonFiniteError(f"training diverged at step {bad}: its loss or gradient norm is NaN/inf, so nothing from it "
                         f"on is saved ({saved}). Lower optim.lr (now {cfg.optim.lr}) or optim.clip_norm "
                         f"(now {cfg.optim.clip_norm}), or check the data in {cfg.data.dir}")


def log_measured_time(step_time_s: float, steps_left: int) -> None:
    if jax.process_index() == 0 and steps_left > 0:
        log.info("measured %.3f s a step: about %s for the remaining %d steps (training only; validation and "
                 "checkpoints add to it)", step_time_s, format_duration(step_time_s * steps_left), steps_left)


def _write_metrics(io: RunIO, row: dict[str, Any]) -> None:
    if io.metrics is not None:
        io.metrics.write(row)


def record_metrics(setup: TrainSetup, io: RunIO, step: int, metrics: dict, step_time_s: float) -> dict[str, Any]:
    """One metrics.jsonl line (and TensorBoard scalars, and the bar's postfix)."""
    m = jax.device_get(metrics)  # explicit transfer; also waits for the step to finish
    cfg = setup.cfg
    tps = cfg.train.batch_size * cfg.data.seq_len / step_time_s
    peak = device_peak_flops(cfg.model.compute_dtype, cfg.train.peak_flops) * setup.mesh.size
    row = {"step": step, "loss": float(m["loss"]), "lr": float(m["lr"]), "grad_norm": float(m["grad_norm"]),
           "tokens_per_s": tps, "step_time_s": step_time_s,
           "mfu": tps * flops_per_token(cfg.model, cfg.data.seq_len) / peak}
    _write_metrics(io, row)
    if io.bar is not None:
        io.bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{tps:,.0f}", mfu=f"{row['mfu']:.1%}")
    return row


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's layout and shows each option's default (options without one say so in their help)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if action.default not in (None, argparse.SUPPRESS) and "%(default)" not in help_text and action.option_strings:
            help_text += " (default: %(default)s)"
        return help_text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transcend train", formatter_class=_HelpFormatter,
        description="Train the ChessFormer decoder on token shards. Rerunning the same command resumes from "
                    "the latest intact checkpoint in --run-dir (a damaged or unreadable one is reported, renamed "
                    "aside and the previous used). SIGTERM/SIGINT save a checkpoint and exit with 128+signal. "
                    "One trainer at a time may use a run directory.",
        epilog="presets (each with the command that runs it and what it should reach):\n" + describe_presets())
    p.add_argument("--config", help="preset name or path to a config.json (required to train)")
    p.add_argument("--run-dir", help="run directory: config.json, checkpoints/, metrics.jsonl, tb/ (required to train)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field by dotted key, e.g. train.steps=1000, data.cutoff=1000, "
                        "mesh.fsdp=-1, model.n_layer=8 (repeatable; --list-keys shows every key)")
    p.add_argument("--stop-at-step", type=int, default=None,
                   help="save and exit after this step (the schedule still follows train.steps; default: train.steps)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--list-keys", action="store_true",
                   help="print every --set key with its type, default (the --config preset's, if given) and allowed "
                        "values, and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.list_keys:
            print(describe_keys(get_preset(args.config) if args.config else RunConfig()))
            return 0
        if args.config is None or (args.run_dir is None and not args.print_config):
            parser.error("--config and --run-dir are required to train (see --help for the presets)")
        cfg = resolve_config(args.config, args.overrides)
    except ValueError as e:
        print(f"transcend train: {e}", file=sys.stderr)
        return 2
    if args.print_config:
        print(cfg.to_json())
        return 0
    shd.maybe_initialize_distributed()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("jaxformer").setLevel(logging.INFO)  # resumes, fall-backs and notes reach the user
    try:
        result = run_training(cfg, args.run_dir, stop_at=args.stop_at_step)
    except (ValueError, FileNotFoundError, RunLockedError, CheckpointError) as e:
        print(f"transcend train: {e}", file=sys.stderr)
        return 2
    if jax.process_index() == 0:
        print(json.dumps({"step": result.step, "stopped_by": result.stopped_by, **result.last_metrics}))
    if result.stopped_by in ("SIGTERM", "SIGINT"):
        return 128 + int(getattr(signal, result.stopped_by))
    return 0


if __name__ == "__main__":
    sys.exit(main())
