"""What a training run is about to do, said before its first step: the model, the data the cutoff selects,
the devices, the steps and tokens, and an estimated time (from FLOPs and the peak table, then measured)."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
from jax.sharding import Mesh

from jaxformer.config import RunConfig
from jaxformer.flops import device_peak_flops, flops_per_token

ASSUMED_MFU = 0.3  # for the estimate before any step is measured; a typical utilisation, not a measurement


@dataclasses.dataclass(frozen=True)
class TrainPlan:
    params: int
    games: int | None  # train games the rating rule selects (None: not known from the manifest)
    tokens: int | None  # their tokens (scaled from the split's total by the games' share)
    devices: int
    platform: str
    mesh: dict[str, int]
    start_step: int
    end_step: int
    tokens_per_step: int
    flops_per_step: float
    peak_flops: float  # all devices together

    @property
    def steps(self) -> int:
        return self.end_step - self.start_step

    def estimated_seconds(self, mfu: float = ASSUMED_MFU) -> float:
        return self.steps * self.flops_per_step / (self.peak_flops * mfu)


def selected_data(cfg: RunConfig, manifest: dict[str, Any]) -> tuple[int | None, int | None]:
    """Train games and (about) tokens the config's rating rule selects, from the manifest's counts."""
    games_total = manifest.get("games", {}).get("train")
    tokens_total = manifest.get("tokens", {}).get("train")
    d = cfg.data
    if d.rule == "max" and d.cutoff is None:
        games = games_total
    elif d.rule == "max":
        games = manifest.get("counts_per_cutoff_by_split", {}).get("train", {}).get(str(d.cutoff))
    else:
        games = None
    tokens = round(tokens_total * games / games_total) if games is not None and tokens_total and games_total else None
    return games, tokens


def make_plan(cfg: RunConfig, mesh: Mesh, params: int, manifest: dict[str, Any], start: int, end: int) -> TrainPlan:
    tokens_per_step = cfg.train.batch_size * cfg.data.seq_len
    games, tokens = selected_data(cfg, manifest)
    return TrainPlan(
        params=params, games=games, tokens=tokens, devices=mesh.size, platform=jax.devices()[0].platform,
        mesh=dict(mesh.shape), start_step=start, end_step=end, tokens_per_step=tokens_per_step,
        flops_per_step=tokens_per_step * flops_per_token(cfg.model, cfg.data.seq_len),
        peak_flops=device_peak_flops(cfg.model.compute_dtype, cfg.train.peak_flops) * mesh.size)


def describe_plan(cfg: RunConfig, plan: TrainPlan) -> str:
    """The start-up header, a few lines."""
    d = cfg.data
    rule = f"cutoff {d.cutoff}" if d.rule == "max" and d.cutoff is not None else (
        f"band {d.band}" if d.rule == "band" else "no cutoff")
    games = f"{plan.games:,} train games" if plan.games is not None else "train games (count not in the manifest)"
    tokens = f", about {plan.tokens:,} tokens" if plan.tokens is not None else ""
    total = plan.steps * plan.tokens_per_step
    epochs = f" ({total / plan.tokens:.1f} passes over the data)" if plan.tokens else ""
    eta = plan.estimated_seconds()
    eta_text = (f"about {format_duration(eta)} (an estimate: {ASSUMED_MFU:.0%} of the devices' peak "
                f"{plan.peak_flops / 1e12:.2f} TFLOP/s; measured after the first steps)") if math.isfinite(eta) else (
                "unknown until the first steps are measured (no peak FLOP/s for this device: set train.peak_flops)")
    return "\n".join([
        f"training {cfg.name}: {plan.params:,} parameters, {cfg.model.n_layer} layers, d_model {cfg.model.d_model}",
        f"  data: {d.dir}, {rule}: {games}{tokens}",
        f"  devices: {plan.devices} {plan.platform}, mesh {plan.mesh}, compute {cfg.model.compute_dtype}",
        f"  steps {plan.start_step} -> {plan.end_step}: {plan.tokens_per_step:,} tokens a step "
        f"({cfg.train.batch_size} x {d.seq_len}), {total:,} in total{epochs}",
        f"  time: {eta_text}",
    ])


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
