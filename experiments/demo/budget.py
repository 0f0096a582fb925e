"""Every budget of `make demo` in one place (each is also an option), and the measured rates its plan's time
estimates come from. The lead tunes these by measured search runs (docs/demo.md)."""
from __future__ import annotations

ARMS = ("diverse", "clones")  # the systematic population, and its --clones ablation
# The population (`transcend data synth --population systematic`), the same for both arms.
GAMES = 1800  # expert-vs-expert training games per arm (~88 move tokens a game)
EXPERTS = 8
CALIBRATION_GAMES = 200  # expert-vs-anchor games per arm: the clone's rating as precise as the population's
NODES = (1, 20)  # Stockfish node limits of the weakest and strongest expert
EPSILON: tuple[float, float] | None = None  # bias rates b_i; None: synth's default for the systematic population
TOKENIZER = "move"
# Training: the tiny preset with these overrides, the same for both arms (--set adds to or replaces them).
TRAIN_OVERRIDES = ("train.steps=300", "train.eval_every=100", "checkpoint.every=100")  # ~8 epochs of 1800 games
# Evaluation, the same opponents and anchor table for both arms.
TEMPERATURES = ("0.001", "0.1", "0.5", "1.0")
EVAL_GAMES = 12  # per temperature and opponent (half with each colour)
EVAL_CONCURRENCY = 24  # games in flight, batched into one model call
ANCHOR_TABLE = "ladder-sf15"  # rates the experts (synth) and the models (eval) on one scale
REAL_DATA_CUTOFF = 1500  # --data: train on games whose players are all rated <= this
BUDGET_MINUTES = 20.0  # the plan warns when its estimate exceeds this

# Rates for the plan's estimates, measured on the shared 2-core machine (tcmalloc preloaded; docs/demo.md).
# Measured (load average 6-10 from other jobs): synth played 400 games at nodes 1-20 in 43 s where its own
# estimate said 1.9 min; build 50 games/s; train 0.85 s a step of 16 x 256 tokens; eval 144 games in 53 s.
SYNTH_RATE_FACTOR = 0.4  # measured synth wall time / synth's own estimate (experiments.synth.play.estimate_seconds)
SYNTH_FIXED_S = 15.0  # engines, the rating fit, the arg-max measurement, the PGN files
BUILD_S_PER_GAME = 0.02
BUILD_FIXED_S = 3.0
TRAIN_S_PER_TOKEN = 1.0 / 5000  # tokens a step = batch_size x seq_len
TRAIN_FIXED_S = 20.0  # JAX start-up and compilation
EVAL_S_PER_GAME = 0.4  # with EVAL_CONCURRENCY games in flight
EVAL_FIXED_S = 15.0
REPORT_S = 15.0
