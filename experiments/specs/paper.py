"""The paper's main experiment: the 50M model trained below each cutoff, rated at its 8 temperatures.

chessformer-50m x cutoffs {1000, 1300, 1500} -> 3 runs (c1000-50m-s0, ...), each evaluated against Stockfish
levels 1, 3, 5 (the paper's anchors) with 100 games per temperature and opponent: 2,400 games a run.

    transcend sweep experiments/specs/paper.py --data data/lichess --executor slurm \
        --resource train.partition=gpu --resource eval.partition=cpu
"""
from experiments.sweep import PAPER_TEMPERATURES, Evaluation, Resources, Sweep

SWEEP = Sweep(
    name="paper",
    presets=["chessformer-50m"],
    cutoffs=[1000, 1300, 1500],
    seeds=[0],
    data="data/lichess",
    overrides=["model.compute_dtype=bfloat16", "mesh.data=1", "mesh.fsdp=-1"],
    evaluation=Evaluation(levels="1,3,5", temperatures=PAPER_TEMPERATURES, games=100, mode="move", anchors="paper",
                          concurrency=64),
    resources={
        "train": Resources(gpus=1, cpus=8, time="48:00:00", mem="64G"),
        "eval": Resources(cpus=16, time="24:00:00", mem="16G"),
        "report": Resources(cpus=1, time="00:30:00", mem="4G"),
    },
)
