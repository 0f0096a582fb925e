"""A run directory for evaluation tests: an untrained tiny model saved as real Orbax checkpoints."""
from __future__ import annotations

import pathlib
from collections.abc import Iterable

import jax
import numpy as np
from flax import nnx

from data_pipeline import get_tokenizer
from jaxformer.checkpoint import RunCheckpointer
from jaxformer.config import CheckpointConfig, DataConfig, ModelConfig, RunConfig
from jaxformer.model import Transformer


def save_untrained_run(run: pathlib.Path, name: str, cutoff: int | None, steps: Iterable[int],
                       tokenizer: str = "char32") -> pathlib.Path:
    """A new run directory RUN holding config.json and one checkpoint a step of the same untrained one-layer model
    (d_model 32, init_std 0.3) on `tokenizer`: it plays legal, near-random chess -> RUN."""
    model = ModelConfig(vocab_size=get_tokenizer(tokenizer).vocab_size, n_layer=1, n_head=2, d_model=32, max_len=128,
                        init_std=0.3)
    cfg = RunConfig(name=name, model=model, data=DataConfig(cutoff=cutoff, seq_len=128, tokenizer=tokenizer),
                    checkpoint=CheckpointConfig(async_save=False))
    run.mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    params = nnx.to_pure_dict(nnx.state(Transformer(cfg.model, rngs=nnx.Rngs(0)), nnx.Param))
    ckpt = RunCheckpointer(run, cfg.checkpoint)
    for step in steps:
        ckpt.save(step, params, {"mu": np.zeros(2, np.float32)}, jax.random.key(0), None)
    ckpt.close()
    return run
