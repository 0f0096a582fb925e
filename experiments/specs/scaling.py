"""How transcendence scales with model size: the scaling ladder x cutoffs, every size on the same token budget.

scaling-{1m,10m,50m,300m,700m} x cutoffs {1000, 1300, 1500} -> 15 runs (c1000-1m-s0, ..., c1500-700m-s0). Every
model reads TOKENS training characters, so sizes are compared at equal data: each run's train.steps is TOKENS
divided by its preset's characters per step (batch x context), and the learning-rate schedule follows its steps.
This is the figure the paper did not publish: margin over the cutoff against model size, per cutoff.

    transcend sweep experiments/specs/scaling.py --data data/lichess --executor slurm --resource train.partition=gpu
"""
from experiments.sweep import PAPER_TEMPERATURES, Evaluation, Point, Resources, Sweep
from jaxformer.config import get_preset

TOKENS = 100_000 * 500 * 1024  # the paper's 50M budget: 100k steps of 500 x 1024 characters


def token_matched(point: Point) -> list[str]:
    cfg = get_preset(point.preset)
    return [f"train.steps={TOKENS // (cfg.train.batch_size * cfg.data.seq_len)}"]


SWEEP = Sweep(
    name="scaling",
    presets=["scaling-1m", "scaling-10m", "scaling-50m", "scaling-300m", "scaling-700m"],
    cutoffs=[1000, 1300, 1500],
    seeds=[0],
    data="data/lichess",
    overrides=["model.compute_dtype=bfloat16", "mesh.data=1", "mesh.fsdp=-1"],
    per_run=token_matched,
    evaluation=Evaluation(levels="1,3,5", temperatures=PAPER_TEMPERATURES, games=100, anchors="paper", concurrency=64),
    resources={
        "train": Resources(gpus=8, cpus=32, time="72:00:00", mem="256G"),
        "eval": Resources(cpus=16, time="24:00:00", mem="16G"),
        "report": Resources(cpus=1, time="00:30:00", mem="4G"),
    },
)
