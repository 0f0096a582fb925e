"""Score every legal move of many games in one pass, sharing each game's cached prefix without copying it.

Candidate k of game g is a short token string placed after the game's prefix. Its queries attend to
(a) the game's cached prefix keys, read once per game, and (b) its own earlier tokens. Both parts
go through one softmax, so this equals running the candidate through `Transformer.extend` on a
private copy of the cache, without materialising G*K copies of the prefix keys (which cost far
more memory traffic than the attention itself). Uses the model's own layers (no scan_layers).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxformer.layers import NEG_INF


def candidate_scores(model, cache, slots_G, lengths_G, prev_logp_GxV, cand_GxKxL, cand_len_GxK, sep_ids, s_max: int):
    """log P(candidate chars) + log P(a separator follows), for each game's K candidates: [G, K]."""
    G, K, L = cand_GxKxL.shape
    positions_GxKxL = jnp.broadcast_to(lengths_G[:, None, None] + jnp.arange(L, dtype=jnp.int32)[None, None, :],
                                       (G, K, L))
    x = model._embed(cand_GxKxL.reshape(G, K * L), positions_GxKxL.reshape(G, K * L))
    prefix_mask_GxS = jnp.arange(s_max)[None, :] < lengths_G[:, None]
    self_mask_LxL = jnp.arange(L)[:, None] >= jnp.arange(L)[None, :]
    for block, k_cache, v_cache in zip(model.blocks, cache.keys, cache.values):
        attn = block.attn
        q, k, v = attn.qkv(block.ln1(x), positions_GxKxL.reshape(G, K * L))
        H, Dh = q.shape[2], q.shape[3]
        q = q * jnp.asarray(1.0 / math.sqrt(Dh), q.dtype)
        kp_GxSxHxD = k_cache[slots_G, :s_max].astype(q.dtype)
        vp_GxSxHxD = v_cache[slots_G, :s_max].astype(q.dtype)
        # prefix part as one [K*L x S] matmul per (game, head); own-token part per candidate
        sp = jnp.einsum("gqhd,gshd->ghqs", q, kp_GxSxHxD, preferred_element_type=jnp.float32)
        sp = jnp.where(prefix_mask_GxS[:, None, None, :], sp, NEG_INF).reshape(G, H, K, L, s_max)
        q5 = q.reshape(G, K, L, H, Dh)
        k5, v5 = k.reshape(G, K, L, H, Dh), v.reshape(G, K, L, H, Dh)
        ss = jnp.einsum("gklhd,gkmhd->ghklm", q5, k5, preferred_element_type=jnp.float32)
        ss = jnp.where(self_mask_LxL, ss, NEG_INF)
        p = jax.nn.softmax(jnp.concatenate([sp, ss], axis=-1), axis=-1).astype(q.dtype)
        o = (jnp.einsum("ghqs,gshd->gqhd", p[..., :s_max].reshape(G, H, K * L, s_max), vp_GxSxHxD)
             + jnp.einsum("ghklm,gkmhd->gklhd", p[..., s_max:], v5).reshape(G, K * L, H, Dh))
        x = x + attn.out(o)
        x = x + block.mlp(block.ln2(x))
    logp = jax.nn.log_softmax(model._logits(x), axis=-1).reshape(G, K, L, -1)
    first_GxK = jnp.take_along_axis(prev_logp_GxV[:, None, :], cand_GxKxL[:, :, :1], axis=2)[..., 0]
    next_GxKxL1 = jnp.take_along_axis(logp[:, :, :-1], cand_GxKxL[:, :, 1:, None], axis=3)[..., 0]
    inside = jnp.arange(1, L)[None, None, :] < cand_len_GxK[:, :, None]
    chars_GxK = first_GxK + jnp.sum(jnp.where(inside, next_GxKxL1, 0.0), axis=2)
    end_GxKxV = jnp.take_along_axis(logp, (cand_len_GxK - 1)[:, :, None, None], axis=2)[:, :, 0]
    return chars_GxK + jax.nn.logsumexp(end_GxKxV[..., sep_ids], axis=-1)
