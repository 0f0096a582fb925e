"""`transcend train`: train the decoder on shards, resuming from the run directory's latest checkpoint.

    transcend train --config tiny --run-dir runs/tiny --set data.dir=data/shards --set data.cutoff=1000

The loop: restore (or initialise) sharded state -> for each step: next Grain batch -> global array ->
jitted step -> metrics every `log_every`, validation every `eval_every`, async checkpoint every
`checkpoint.every`, on SIGTERM/SIGINT (then exit 128+signal) and at the end.
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
from typing import Any

import jax
import numpy as np

from jaxformer import data as data_lib
from jaxformer import sharding as shd
from jaxformer.checkpoint import RunCheckpointer
from jaxformer.config import RunConfig, resolve_config
from jaxformer.flops import device_peak_flops, flops_per_token
from jaxformer.metrics import MetricsLogger
from jaxformer.step import TrainSetup, make_setup

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


def write_run_config(run_dir: pathlib.Path, cfg: RunConfig) -> None:
    """config.json; on restart the model and data sections must match, other changes are reported."""
    path = run_dir / "config.json"
    if path.is_file():
        old = RunConfig.from_json(path.read_text())
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
            print(f"note: {path} is updated with changed train/optim/mesh/checkpoint settings")
    if jax.process_index() == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(cfg.to_json() + "\n")
        tmp.replace(path)


def _progress(cfg: RunConfig, start: int) -> Any:
    if not cfg.train.progress or jax.process_index() != 0:
        return None
    from tqdm import tqdm

    return tqdm(total=cfg.train.steps, initial=start, desc=cfg.name, unit="step", dynamic_ncols=True)


def evaluate(setup: TrainSetup, params: Any, batches: list[dict[str, np.ndarray]]) -> float:
    loss_sum, count = 0.0, 0.0
    for b in batches:
        s, c = jax.device_get(setup.eval_step(params, shd.global_batch(b, setup.mesh)))
        loss_sum, count = loss_sum + float(s), count + float(c)
    return loss_sum / max(count, 1.0)


def run_training(cfg: RunConfig, run_dir: str | pathlib.Path, *, stop_at: int | None = None,
                 devices: list | None = None) -> TrainResult:
    """Train (or resume) `cfg` in `run_dir`; `stop_at` ends after that step as if preempted (for tests/jobs)."""
    run_dir = pathlib.Path(run_dir)
    cfg.validate()
    data_lib.check_data_dir(cfg)
    write_run_config(run_dir, cfg)
    mesh = shd.make_mesh(cfg.mesh, devices)
    setup = make_setup(cfg, mesh)
    train_iter = data_lib.train_iterator(cfg)
    val_batches = data_lib.validation_batches(cfg)
    if cfg.train.eval_every > 0 and not val_batches:
        print(f"warning: no {cfg.data.val_split} batches for this rule/cutoff; validation is off")
    ckpt = RunCheckpointer(run_dir, cfg.checkpoint)
    rng = jax.random.key(cfg.train.seed)
    restored = ckpt.restore_latest(setup.abstract_params, setup.abstract_opt_state, rng, train_iter)
    if restored is None:
        params, opt_state = setup.init_fn()
        step = 0
    else:
        step, params, opt_state, rng = restored
        print(f"resumed from checkpoint step {step} in {ckpt.root}")
    metrics_log = MetricsLogger(run_dir)
    bar = _progress(cfg, step)
    tokens_per_step = cfg.train.batch_size * cfg.data.seq_len
    flops_tok = flops_per_token(cfg.model, cfg.data.seq_len)
    peak = device_peak_flops(cfg.model.compute_dtype, cfg.train.peak_flops) * mesh.size
    end = min(cfg.train.steps, stop_at) if stop_at is not None else cfg.train.steps
    last: dict[str, Any] = {}
    saved_step = step if restored is not None else -1
    guard = jax.transfer_guard("disallow") if cfg.train.transfer_guard else contextlib.nullcontext()
    stopped_by = "done"
    try:
        with _StopFlag() as stop, guard:
            t_mark, steps_since = time.perf_counter(), 0
            while step < end:
                batch = shd.global_batch(next(train_iter), mesh)
                params, opt_state, metrics = setup.train_step(params, opt_state, batch)
                step += 1
                steps_since += 1
                if step == 1 or step % cfg.train.log_every == 0 or step == end:
                    m = jax.device_get(metrics)  # explicit transfer; also waits for the step to finish
                    now = time.perf_counter()
                    dt = (now - t_mark) / steps_since
                    t_mark, steps_since = now, 0
                    tps = tokens_per_step / dt
                    last = {"step": step, "loss": float(m["loss"]), "lr": float(m["lr"]),
                            "grad_norm": float(m["grad_norm"]), "tokens_per_s": tps, "step_time_s": dt,
                            "mfu": tps * flops_tok / peak}
                    if not np.isfinite(last["loss"]):
                        raise FloatingPointError(f"loss is {last['loss']} at step {step}; lower optim.lr or check data")
                    metrics_log.write(last)
                    if bar is not None:
                        bar.set_postfix(loss=f"{last['loss']:.4f}", tok_s=f"{tps:,.0f}", mfu=f"{last['mfu']:.1%}")
                if bar is not None:
                    bar.update(1)
                t_other = time.perf_counter()  # validation and checkpoint time is not training throughput
                if val_batches and cfg.train.eval_every > 0 and (step % cfg.train.eval_every == 0 or step == end):
                    val = evaluate(setup, params, val_batches)
                    metrics_log.write({"step": step, "val_loss": val})
                    last["val_loss"] = val
                if stop.signum is not None or (cfg.checkpoint.every and step % cfg.checkpoint.every == 0):
                    ckpt.save(step, params, opt_state, rng, train_iter)
                    saved_step = step
                t_mark += time.perf_counter() - t_other
                if stop.signum is not None:
                    stopped_by = signal.Signals(stop.signum).name
                    break
            if saved_step != step:
                ckpt.save(step, params, opt_state, rng, train_iter)
            if stopped_by == "done" and step < cfg.train.steps:
                stopped_by = "stop_at"
    finally:
        ckpt.close()  # waits for the async write: a checkpoint is complete when we return
        metrics_log.close()
        if bar is not None:
            bar.close()
    return TrainResult(step=step, stopped_by=stopped_by, last_metrics=last)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transcend train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the ChessFormer decoder on token shards. Rerunning the same command resumes from "
                    "the latest complete checkpoint in --run-dir (an unreadable latest one is reported and the "
                    "previous used). SIGTERM/SIGINT save a checkpoint and exit with 128+signal.",
        epilog="examples:\n"
               "  transcend train --config tiny --run-dir runs/tiny --set data.dir=data/shards\n"
               "  transcend train --config chessformer-50m --run-dir runs/c1000 --set data.dir=data/shards "
               "--set data.cutoff=1000 --set model.compute_dtype=bfloat16 --set mesh.fsdp=-1\n"
               "presets: tiny, chessformer-50m/302m/707m, scaling-1m/10m/50m/300m/700m")
    p.add_argument("--config", required=True, help="preset name or path to a config.json")
    p.add_argument("--run-dir", required=True, help="run directory: config.json, checkpoints/, metrics.jsonl, tb/")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field by dotted key, e.g. train.steps=1000, data.cutoff=1000, "
                        "mesh.fsdp=-1, model.n_layer=8 (repeatable)")
    p.add_argument("--stop-at-step", type=int, default=None,
                   help="save and exit after this step (the schedule still follows train.steps)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = resolve_config(args.config, args.overrides)
    except ValueError as e:
        print(f"transcend train: {e}", file=sys.stderr)
        return 2
    if args.print_config:
        print(cfg.to_json())
        return 0
    shd.maybe_initialize_distributed()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run_training(cfg, args.run_dir, stop_at=args.stop_at_step)
    except (ValueError, FileNotFoundError) as e:
        print(f"transcend train: {e}", file=sys.stderr)
        return 2
    if jax.process_index() == 0:
        print(json.dumps({"step": result.step, "stopped_by": result.stopped_by, **result.last_metrics}))
    if result.stopped_by in ("SIGTERM", "SIGINT"):
        return 128 + int(getattr(signal, result.stopped_by))
    return 0


if __name__ == "__main__":
    sys.exit(main())
