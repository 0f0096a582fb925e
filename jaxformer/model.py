"""ChessFormer: a decoder-only transformer (nanoGPT shape) in Flax NNX, with a KV cache for sampling.

`model(tokens_BxL)` is the causal training forward; `init_cache` + `extend` decode incrementally, and
`extend_branches` scores several continuations of each cached prefix at once. jaxformer.decode is the
public inference API built on these; nothing outside this module and layers.py reaches into a block.
Layers live in an `nnx.List`, or stacked along a leading axis and run with `nnx.scan` when
`cfg.scan_layers` (compile time then does not grow with depth).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx, struct

from jaxformer import sharding as shd
from jaxformer.config import ModelConfig
from jaxformer.layers import Block, Norm, dtype_of, param

ONE_HOT_MAX_VOCAB = 1024
REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


@struct.dataclass
class KVCache:
    """Per-layer keys/values [B, S, H, Dh] and each row's filled length."""

    keys: tuple[jax.Array, ...]
    values: tuple[jax.Array, ...]
    lengths: jax.Array  # int32 [B]


class Transformer(nnx.Module):
    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embed = param(rngs, (cfg.vocab_size, cfg.d_model), cfg.init_std, ("vocab", "embed"))
        if cfg.position == "learned":
            self.pos_embed = param(rngs, (cfg.max_len, cfg.d_model), cfg.init_std, (None, "embed"))
        self.blocks: Any  # stacked Block (scan_layers) or nnx.List[Block]
        if cfg.scan_layers:
            @nnx.split_rngs(splits=cfg.n_layer)
            @nnx.vmap(in_axes=(0,), out_axes=0)
            def make_blocks(r: nnx.Rngs) -> Block:
                return Block(cfg, rngs=r)

            self.blocks = make_blocks(rngs)
        else:
            self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.n_layer)])
        self.ln_f = Norm(cfg)
        if not cfg.tie_embeddings:
            self.lm_head = param(rngs, (cfg.d_model, cfg.vocab_size), cfg.init_std, ("embed", "vocab"))

    # ------------------------------------------------------------------ shared pieces
    def _embed(self, tokens_BxL: jax.Array, positions_BxL: jax.Array | None) -> jax.Array:
        """Token (+ learned position) embeddings; positions None means 0..L-1 for every row."""
        dt = dtype_of(self.cfg.compute_dtype)
        if self.cfg.vocab_size <= ONE_HOT_MAX_VOCAB:
            # A one-hot matmul partitions cleanly when the table is sharded (a gather does not) and is cheap here.
            onehot_BxLxV = jax.nn.one_hot(tokens_BxL, self.cfg.vocab_size, dtype=jnp.float32)
            x_BxLxD = onehot_BxLxV @ self.embed[...]
        else:
            x_BxLxD = jnp.take(self.embed[...], tokens_BxL, axis=0)
        if self.cfg.position == "learned":
            if positions_BxL is None:
                x_BxLxD = x_BxLxD + self.pos_embed[: tokens_BxL.shape[1]][None]
            else:
                x_BxLxD = x_BxLxD + jnp.take(self.pos_embed[...], positions_BxL, axis=0)
        return x_BxLxD.astype(dt)

    def _logits(self, x_BxLxD: jax.Array) -> jax.Array:
        x_BxLxD = self.ln_f(x_BxLxD)
        if self.cfg.tie_embeddings:
            w_VxD = self.embed[...].astype(x_BxLxD.dtype)
            return jnp.einsum("bld,vd->blv", x_BxLxD, w_VxD, preferred_element_type=jnp.float32)
        w_DxV = self.lm_head[...].astype(x_BxLxD.dtype)
        return jnp.einsum("bld,dv->blv", x_BxLxD, w_DxV, preferred_element_type=jnp.float32)

    # ------------------------------------------------------------------ training forward
    def __call__(self, tokens_BxL: jax.Array) -> jax.Array:
        """Causal logits float32 [B, L, V] for tokens at positions 0..L-1."""
        B, L = tokens_BxL.shape
        if L > self.cfg.max_len:
            raise ValueError(f"sequence length {L} exceeds model max_len {self.cfg.max_len}")
        positions_BxL = jnp.broadcast_to(jnp.arange(L, dtype=jnp.int32), (B, L))
        x_BxLxD = shd.constrain(self._embed(tokens_BxL, None), ("batch", "length", None))

        def block_fn(block: Block, x: jax.Array) -> jax.Array:
            return shd.constrain(block(x, positions_BxL), ("batch", "length", None))

        if self.cfg.remat != "none":
            block_fn = nnx.remat(block_fn, policy=REMAT_POLICIES[self.cfg.remat])
        if self.cfg.scan_layers:
            @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
            def run(x: jax.Array, block: Block) -> jax.Array:
                return block_fn(block, x)

            x_BxLxD = run(x_BxLxD, self.blocks)
        else:
            for block in self.blocks:
                x_BxLxD = block_fn(block, x_BxLxD)
        return self._logits(x_BxLxD)

    # ------------------------------------------------------------------ incremental decoding
    def init_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        cfg = self.cfg
        S = max_len or cfg.max_len
        if S > cfg.max_len and cfg.position == "learned":
            raise ValueError(f"cache length {S} exceeds model max_len {cfg.max_len} (learned positions)")
        shape = (batch_size, S, cfg.n_head, cfg.head_dim)
        dt = dtype_of(cfg.compute_dtype)
        zeros = tuple(jnp.zeros(shape, dt) for _ in range(cfg.n_layer))
        return KVCache(keys=zeros, values=tuple(jnp.zeros(shape, dt) for _ in range(cfg.n_layer)),
                       lengths=jnp.zeros((batch_size,), jnp.int32))

    def extend(self, tokens_BxT: jax.Array, cache: KVCache,
               num_valid_B: jax.Array | None = None) -> tuple[jax.Array, KVCache]:
        """Append T tokens per row at positions lengths[b] + t; lengths advance by num_valid_B (default T).

        Tokens past a row's num_valid are written to the cache but overwritten by the next call.
        """
        B, T = tokens_BxT.shape
        positions_BxT = cache.lengths[:, None] + jnp.arange(T, dtype=jnp.int32)[None, :]
        x_BxTxD = self._embed(tokens_BxT, positions_BxT)
        if self.cfg.scan_layers:
            @nnx.scan(in_axes=(nnx.Carry, 0, 0, 0), out_axes=(nnx.Carry, 0, 0))
            def run(x, block, k, v):
                return block.extend(x, positions_BxT, k, v)

            x_BxTxD, k_all, v_all = run(x_BxTxD, self.blocks, jnp.stack(cache.keys), jnp.stack(cache.values))
            keys, values = tuple(k_all), tuple(v_all)
        else:
            key_list, value_list = [], []
            for block, k, v in zip(self.blocks, cache.keys, cache.values):
                x_BxTxD, k, v = block.extend(x_BxTxD, positions_BxT, k, v)
                key_list.append(k)
                value_list.append(v)
            keys, values = tuple(key_list), tuple(value_list)
        advance_B = jnp.full((B,), T, jnp.int32) if num_valid_B is None else jnp.asarray(num_valid_B, jnp.int32)
        return self._logits(x_BxTxD), KVCache(keys=keys, values=values, lengths=cache.lengths + advance_B)

    def extend_branches(self, tokens_GxKxL: jax.Array, prefix: KVCache) -> jax.Array:
        """Logits float32 [G, K, L, V] of K continuations of L tokens placed after each row's cached prefix.

        Continuation k of row g sits at positions lengths[g] + 0..L-1 and sees the row's prefix and its own
        earlier tokens: the same as `extend` of that continuation on a private copy of row g, without copying
        the prefix K times. `prefix` is only read (rows of G prefixes; keys past `lengths` are ignored).
        """
        if self.cfg.scan_layers:
            raise ValueError("extend_branches needs unstacked layers (model.scan_layers=false); with stacked "
                             "layers, score each continuation with `extend` on a copy of its row")
        G, K, L = tokens_GxKxL.shape
        offsets_GxKxL = jnp.broadcast_to(jnp.arange(L, dtype=jnp.int32)[None, None, :], (G, K, L))
        positions_GxN = (prefix.lengths[:, None, None] + offsets_GxKxL).reshape(G, K * L)
        x_GxNxD = self._embed(tokens_GxKxL.reshape(G, K * L), positions_GxN)
        for block, k_prefix, v_prefix in zip(self.blocks, prefix.keys, prefix.values):
            x_GxNxD = block.extend_branches(x_GxNxD, positions_GxN, k_prefix, v_prefix, prefix.lengths, K)
        return self._logits(x_GxNxD).reshape(G, K, L, -1)


def count_params(model: Transformer) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
