"""The learning-rate schedule: the paper presets follow the paper's get_lr step for step; the scaling ladder and
the tiny preset keep the cosine that ends at min_lr on their last step; the paper's warm-up really trains at 0."""
import math

import jax
import numpy as np
import pytest
from test_train import fixed_batch, one_device_setup

from jaxformer import sharding as shd
from jaxformer.config import PRESETS, get_preset, resolve_config
from jaxformer.optim import lr_schedule

PAPER_PRESETS = ("chessformer-50m", "chessformer-302m", "chessformer-707m")


def paper_get_lr(it: int, learning_rate: float = 3e-4, min_lr: float = 3e-5, warmup_iters: int = 2000,
                 lr_decay_iters: int = 4_000_000) -> float:
    """chess_research/train.py:238-249 of KempnerInstitute/chess-research, with config/*_1000.json's values."""
    if it < warmup_iters:
        return learning_rate * it / warmup_iters
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def lr_at(cfg, step: int) -> float:
    return float(lr_schedule(cfg.optim, cfg.train.steps)(step))


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_paper_presets_follow_the_papers_get_lr(name):
    cfg = get_preset(name)
    steps = [0, 1, 2, 1999, 2000, 2001, 50_000, 100_000, 1_000_000, 3_999_999, 4_000_000, 4_000_001]
    got = [lr_at(cfg, s) for s in steps]
    want = [paper_get_lr(s) for s in steps]
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)
    assert got[0] == 0.0 and got[1] == pytest.approx(1.5e-7, rel=1e-6)  # lr * s / 2000: the first step trains at 0
    assert lr_at(cfg, cfg.train.steps) == pytest.approx(2.996e-4, abs=5e-8)  # the evaluated checkpoint: still ~3e-4
    assert got[steps.index(4_000_000)] == pytest.approx(3e-5, rel=1e-6)  # min_lr only at the paper's horizon


@pytest.mark.parametrize("name", [n for n in PRESETS if n.startswith("scaling-")] + ["tiny"])
def test_scaling_and_tiny_presets_decay_to_min_lr_at_their_last_step(name):
    cfg = get_preset(name)
    o, end = cfg.optim, cfg.train.steps
    assert o.decay_steps is None
    assert lr_at(cfg, 0) == pytest.approx(o.lr / (o.warmup_steps + 1), rel=1e-6)  # never 0
    assert lr_at(cfg, o.warmup_steps) == pytest.approx(o.lr, rel=1e-6)
    assert lr_at(cfg, end // 2 + o.warmup_steps // 2) == pytest.approx((o.lr + o.min_lr) / 2, rel=1e-4)
    assert lr_at(cfg, end) == pytest.approx(o.min_lr, rel=1e-6)
    assert lr_at(cfg, end - 1) == pytest.approx(o.min_lr, rel=1e-3)


def test_decay_steps_is_its_own_horizon_and_must_pass_the_warm_up():
    cfg = resolve_config("tiny", ["optim.decay_steps=600", "train.steps=310"])  # stops half way down the cosine
    assert lr_at(cfg, 310) == pytest.approx((cfg.optim.lr + cfg.optim.min_lr) / 2, rel=1e-4)
    assert lr_at(cfg, 600) == pytest.approx(cfg.optim.min_lr, rel=1e-6)
    with pytest.raises(ValueError, match="optim.decay_steps=20 must exceed optim.warmup_steps=20"):
        resolve_config("tiny", ["optim.decay_steps=20"])


def test_warmup_from_zero_leaves_the_parameters_at_step_zero_and_then_moves_them():
    # The paper's step 0 updates Adam's moments at lr 0 (train.py:241): no parameter moves until step 1.
    cfg = resolve_config("tiny", ["train.batch_size=4", "data.seq_len=32", "model.max_len=32",
                                  "optim.warmup_from_zero=true"])
    setup, mesh = one_device_setup(cfg)
    params, opt_state = setup.init_fn()
    start = [np.asarray(x) for x in jax.tree.leaves(params)]
    batch = shd.global_batch(fixed_batch(4, 32, seed=1), mesh)
    params, opt_state, m0 = setup.train_step(params, opt_state, batch)
    after_0 = [np.asarray(x) for x in jax.tree.leaves(params)]
    assert float(m0["lr"]) == 0.0
    for got, want in zip(after_0, start):
        np.testing.assert_array_equal(got, want)
    params, opt_state, m1 = setup.train_step(params, opt_state, batch)
    assert float(m1["lr"]) == pytest.approx(cfg.optim.lr / cfg.optim.warmup_steps, rel=1e-6)
    moved = sum(int(np.sum(np.asarray(new) != old)) for new, old in zip(jax.tree.leaves(params), after_0))
    assert moved > 0.9 * sum(x.size for x in after_0)
