"""The training run's view of the data pipeline: a checkpointable train iterator and fixed validation batches."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from jaxformer.config import RunConfig


def loader_spec(cfg: RunConfig, split: str = "train", batch_size: int | None = None):
    """LoaderSpec for this run (data_pipeline is imported lazily so the model works without it)."""
    from data_pipeline import LoaderSpec

    d = cfg.data
    return LoaderSpec(data_dir=data_dir(cfg), split=split, rule=d.rule, cutoff=d.cutoff, band=d.band, seq_len=d.seq_len,
                      batch_size=batch_size or cfg.train.batch_size, packing=d.packing, seed=d.seed,
                      num_epochs=None, worker_count=d.worker_count)


def data_dir(cfg: RunConfig) -> str:
    """The shard directory; a clear error when the config does not name one."""
    if not cfg.data.dir:
        raise ValueError("data.dir is not set: pass --set data.dir=PATH (a shard directory from `transcend data build`)")
    return cfg.data.dir


def check_data_dir(cfg: RunConfig) -> dict:
    """Fail before training starts when the shard directory or its tokenizer does not fit the model."""
    from data_pipeline import get_tokenizer, read_manifest

    manifest = read_manifest(data_dir(cfg))
    tok = manifest.get("tokenizer")
    if tok is not None and tok != cfg.data.tokenizer:
        raise ValueError(f"shards in {cfg.data.dir} use tokenizer {tok!r}, config says data.tokenizer="
                         f"{cfg.data.tokenizer!r}; set --set data.tokenizer={tok} (or build shards with "
                         f"`transcend data build --tokenizer {cfg.data.tokenizer}`)")
    vocab = manifest.get("vocab")  # manifests older than "vocab_size" hold char32's symbol string
    needed = max(manifest.get("vocab_size") or len(vocab or ""), get_tokenizer(cfg.data.tokenizer).vocab_size)
    if needed > cfg.model.vocab_size:
        raise ValueError(f"shards in {cfg.data.dir} use tokenizer {cfg.data.tokenizer!r} with {needed} token ids but "
                         f"model.vocab_size={cfg.model.vocab_size}; set --set model.vocab_size={needed}")
    return manifest


def train_iterator(cfg: RunConfig) -> Any:
    """Grain DatasetIterator over the train split (its state is saved with every checkpoint)."""
    from data_pipeline import make_dataset

    return iter(make_dataset(loader_spec(cfg, "train"), jax.process_index(), jax.process_count()))


def validation_batches(cfg: RunConfig) -> list[dict[str, np.ndarray]]:
    """The first `train.eval_batches` validation batches: the same held-out tokens at every evaluation."""
    from data_pipeline import make_dataset

    if cfg.train.eval_every <= 0 or cfg.train.eval_batches <= 0:
        return []
    spec = dataclasses.replace(loader_spec(cfg, cfg.data.val_split), num_epochs=1)
    it: Iterator = iter(make_dataset(spec, jax.process_index(), jax.process_count()))
    return [b for _, b in zip(range(cfg.train.eval_batches), it)]
