"""Every budget of `make demo` in one place (each is also an option), and the measured rates its plan's time
estimates come from. The lead tunes these by measured search runs (docs/demo.md)."""
from __future__ import annotations

from arena.anchors import DEFAULT_LADDER

ARMS = ("diverse", "clones")  # the systematic population, and its --clones ablation
# The population (`transcend data synth --population systematic`), the same for both arms.
GAMES = 1800  # expert-vs-expert training games per arm (~88 move tokens a game)
EXPERTS = 8
CALIBRATION_GAMES = 200  # expert-vs-anchor games per arm: the clone's rating as precise as the population's
NODES = (1, 20)  # Stockfish node limits of the weakest and strongest expert
EPSILON: tuple[float, float] | None = None  # bias rates b_i; None: synth's default for the systematic population
TOKENIZER = "board"  # each move after its position: the tokenizer that came closest in the search (docs/demo.md)
# Training: the tiny preset with these overrides, the same for both arms (--set adds to or replaces them).
TRAIN_OVERRIDES = ("train.steps=2500", "train.eval_every=500", "checkpoint.every=500")  # ~1 epoch of board tokens
# Evaluation, the same opponents and anchor table for both arms.
TEMPERATURES = ("0.001", "0.1", "0.5", "1.0")
EVAL_GAMES = 12  # per temperature and opponent (half with each colour)
EVAL_CONCURRENCY = 24  # games in flight, batched into one model call
ANCHOR_TABLE = DEFAULT_LADDER  # rates the experts (synth) and the models (eval) on one scale
REAL_DATA_CUTOFF = 1500  # --data: train on games whose players are all rated <= this
BUDGET_MINUTES = 20.0  # the plan warns when its estimate exceeds this

# Rates for the plan's estimates, measured on the shared 2-core machine (tcmalloc preloaded; docs/demo.md).
# Measured on a quiet machine (the search runs of docs/demo.md): synth 2000 games (with calibration) at nodes
# 1-20 in 160-200 s; build 2-5 s; train 2500 steps of 16 x 256 board tokens in ~285 s; eval 144 games in ~60 s.
SYNTH_RATE_FACTOR = 0.4  # measured synth wall time / synth's own estimate (experiments.synth.play.estimate_seconds)
SYNTH_FIXED_S = 15.0  # engines, the rating fit, the arg-max measurement, the PGN files
BUILD_S_PER_GAME = 0.002
BUILD_FIXED_S = 3.0
TRAIN_S_PER_TOKEN = 1.0 / 36000  # tokens a step = batch_size x seq_len; board tokens, tiny preset, a quiet machine
TRAIN_FIXED_S = 20.0  # JAX start-up and compilation
EVAL_S_PER_GAME = 0.4  # with EVAL_CONCURRENCY games in flight
EVAL_FIXED_S = 15.0
REPORT_S = 15.0
