"""The diversity ablation: the same model trained on a diverse population of experts and on clones of one.

Two synthetic populations (`transcend data synth`, then `transcend data build`, both made by the sweep under
OUT/data/): `diverse` (8 experts of different strengths and biases) and `clones` (every game one expert of the
population's mean strength against itself). scaling-10m x {diverse, clones} x seeds {0, 1, 2} -> 6 runs
(diverse-10m-s0, ..., clones-10m-s2), rated on the scale of the bundled ladder (arena.DEFAULT_LADDER) that also
rates the experts, so each run's reference line is its population's best expert.
The paper predicts transcendence only with diversity.

    transcend sweep experiments/specs/diversity.py --executor slurm --resource train.partition=gpu
"""
from arena import DEFAULT_LADDER
from experiments.sweep import Evaluation, Population, Resources, Sweep

SYNTH = ("--games", "20000", "--experts", "8", "--seed", "0", "--workers", "16", "--anchor-table", DEFAULT_LADDER)

SWEEP = Sweep(
    name="diversity",
    presets=["scaling-10m"],
    populations=[Population("diverse", synth=SYNTH), Population("clones", synth=(*SYNTH, "--clones"))],
    seeds=[0, 1, 2],
    overrides=["train.steps=5000", "model.compute_dtype=bfloat16"],
    evaluation=Evaluation(levels="random,l20-n1-r70,l20-n1-r40,l20-n1-r10", temperatures=(0.001, 0.1, 0.5, 1.0),
                          games=100, anchors=DEFAULT_LADDER, concurrency=64),
    resources={
        "data": Resources(cpus=16, time="12:00:00", mem="16G"),
        "train": Resources(gpus=1, cpus=8, time="12:00:00", mem="32G"),
        "eval": Resources(cpus=16, time="12:00:00", mem="16G"),
        "report": Resources(cpus=1, time="00:30:00", mem="4G"),
    },
)
