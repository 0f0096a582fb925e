"""The training run's data path (jaxformer.data over data_pipeline) and the shard fixture other train tests share."""
import pathlib

import numpy as np
import pytest
from data_fixtures import pgn

from data_pipeline import build as build_mod
from jaxformer import data as data_lib
from jaxformer.config import resolve_config


def build_shards(root: pathlib.Path, n_games: int = 240, seed: int = 5) -> str:
    """Real ArrayRecord shards from a generated Lichess-format PGN (random legal games, ratings 600-2600)."""
    root.mkdir(parents=True, exist_ok=True)
    text, _ = pgn.random_pgn(n_games, seed=seed, max_plies=60)
    (root / "games.pgn").write_text(text)
    out = root / "shards"
    build_mod.build(build_mod.BuildConfig(sources=(str(root / "games.pgn"),), out_dir=str(out),
                                          shard_bytes=40_000, val_fraction=0.15))
    return str(out)


def small_config(data_dir: str, *overrides: str):
    """tiny preset shrunk further so a training test takes seconds on 2 CPU cores."""
    return resolve_config("tiny", [
        f"data.dir={data_dir}", "data.seq_len=64", "model.max_len=64", "model.d_model=64", "model.n_head=4",
        "train.batch_size=8", "train.log_every=1", "train.eval_every=0", "train.progress=false",
        "optim.warmup_steps=5", "checkpoint.every=0", *overrides])


def test_train_iterator_and_validation_batches(shards):
    cfg = small_config(shards, "train.eval_every=10", "train.eval_batches=2")
    batch = next(data_lib.train_iterator(cfg))
    assert batch["inputs"].shape == (8, 64) and batch["inputs"].dtype == np.int32
    np.testing.assert_array_equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])
    val = data_lib.validation_batches(cfg)
    assert len(val) == 2
    # validation is the same tokens every time it is asked for
    np.testing.assert_array_equal(val[0]["inputs"], data_lib.validation_batches(cfg)[0]["inputs"])


def test_data_errors_are_clear(shards, tmp_path):
    with pytest.raises(ValueError, match="data.dir is not set"):
        data_lib.loader_spec(resolve_config("tiny", []))
    cfg = small_config(shards, "model.vocab_size=16")
    with pytest.raises(ValueError, match="model.vocab_size=32"):
        data_lib.check_data_dir(cfg)
