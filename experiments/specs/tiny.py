"""A two-run sweep that finishes in a minute or two on a CPU (the tests run it): the tiny preset, a few steps,
on all games and below 2000, each evaluated in 2 games against the random mover.

    transcend sweep experiments/specs/tiny.py --data SHARD_DIR --out runs/sweeps/tiny
"""
from arena import DEFAULT_LADDER
from experiments.sweep import Evaluation, Resources, Sweep

SWEEP = Sweep(
    name="tiny",
    presets=["tiny"],
    cutoffs=[None, 2000],
    seeds=[0],
    overrides=["train.steps=4", "train.batch_size=4", "train.log_every=2", "train.eval_every=0",
               "checkpoint.every=4", "train.progress=false"],
    evaluation=Evaluation(levels="random", temperatures=(1.0,), games=2, anchors=DEFAULT_LADDER, max_plies=24,
                          n_boot=20, concurrency=2, extra=("--no-tensorboard",)),
    resources={stage: Resources(cpus=1, time="00:20:00") for stage in ("train", "eval", "report")},
)
