"""The public inference API: a model, one KV cache whose rows are text prefixes, and what move scoring needs.

Each row of the cache holds one prefix (a game's transcript); its length is kept by the caller.

    extend_rows          append tokens to some rows of the shared cache -> the next-token log-probs
    score_branches       log P(continuation, then an end token) of K continuations of each row's prefix, in one
                         pass that reads each prefix once (`Transformer.extend_branches`)
    score_replicated     the same on one private copy of a row per continuation (`Transformer.extend`): the
                         path for stacked layers (`model.scan_layers`), which `extend_branches` does not take
    Decoder              these, jitted, bound to a model and its cache; batches padded to few shapes

These functions are the only way code outside jaxformer.model / jaxformer.layers runs the model for inference.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxformer.model import KVCache, Transformer

ROW_BYTES_BUDGET = 256 << 20  # attention scores / replicated cache rows held per scoring chunk


def gather_rows(cache: KVCache, rows_G: jax.Array, lengths_G: jax.Array, s_max: int | None = None) -> KVCache:
    """Rows `rows_G` of the shared cache (their first `s_max` positions), with the given prefix lengths."""
    end = s_max if s_max is not None else cache.keys[0].shape[1]
    return KVCache(keys=tuple(k[rows_G, :end] for k in cache.keys), values=tuple(v[rows_G, :end] for v in cache.values),
                   lengths=jnp.asarray(lengths_G, jnp.int32))


def extend_rows(model: Transformer, cache: KVCache, rows_G: jax.Array, lengths_G: jax.Array, tokens_GxT: jax.Array,
                num_valid_G: jax.Array) -> tuple[jax.Array, KVCache]:
    """Append row g's first num_valid_G[g] tokens after its prefix of lengths_G[g] tokens; returns the next-token
    log-probs after them [G, V] and the updated shared cache. Rows must be distinct, or repeat identical work."""
    rows = gather_rows(cache, rows_G, lengths_G)
    logits_GxTxV, rows = model.extend(tokens_GxT, rows, num_valid_G)
    cache = KVCache(keys=tuple(k.at[rows_G].set(r) for k, r in zip(cache.keys, rows.keys)),
                    values=tuple(v.at[rows_G].set(r) for v, r in zip(cache.values, rows.values)),
                    lengths=cache.lengths.at[rows_G].set(rows.lengths))
    last_GxV = logits_GxTxV[jnp.arange(tokens_GxT.shape[0]), num_valid_G - 1]
    return jax.nn.log_softmax(last_GxV, axis=-1), cache


def continuation_log_probs(logits_NxLxV: jax.Array, prev_logp_NxV: jax.Array, cont_NxL: jax.Array,
                           cont_len_N: jax.Array, end_ids: jax.Array) -> jax.Array:
    """log P(the continuation's tokens) + log P(one of `end_ids` follows), per continuation [N].

    `prev_logp_NxV` predicts the first token (the prefix's next-token log-probs); position i of the
    continuation's logits predicts token i + 1; padding past `cont_len_N` does not count.
    """
    L = cont_NxL.shape[1]
    logp_NxLxV = jax.nn.log_softmax(logits_NxLxV, axis=-1)
    first_N = jnp.take_along_axis(prev_logp_NxV, cont_NxL[:, :1], axis=1)[:, 0]
    next_NxL1 = jnp.take_along_axis(logp_NxLxV[:, :-1], cont_NxL[:, 1:, None], axis=2)[..., 0]
    inside_NxL1 = jnp.arange(1, L)[None, :] < cont_len_N[:, None]
    tokens_N = first_N + jnp.sum(jnp.where(inside_NxL1, next_NxL1, 0.0), axis=1)
    end_NxV = logp_NxLxV[jnp.arange(cont_NxL.shape[0]), cont_len_N - 1]
    return tokens_N + jax.nn.logsumexp(end_NxV[:, end_ids], axis=1)


def score_branches(model: Transformer, cache: KVCache, rows_G: jax.Array, lengths_G: jax.Array,
                   prev_logp_GxV: jax.Array, cont_GxKxL: jax.Array, cont_len_GxK: jax.Array, end_ids: jax.Array,
                   s_max: int) -> jax.Array:
    """`continuation_log_probs` of K continuations after each of G cached prefixes [G, K] (prefixes < s_max)."""
    G, K, L = cont_GxKxL.shape
    logits_GxKxLxV = model.extend_branches(cont_GxKxL, gather_rows(cache, rows_G, lengths_G, s_max))
    prev_NxV = jnp.repeat(prev_logp_GxV, K, axis=0)
    scores_N = continuation_log_probs(logits_GxKxLxV.reshape(G * K, L, -1), prev_NxV, cont_GxKxL.reshape(G * K, L),
                                      cont_len_GxK.reshape(G * K), end_ids)
    return scores_N.reshape(G, K)


def score_replicated(model: Transformer, cache: KVCache, rows_R: jax.Array, lengths_R: jax.Array,
                     prev_logp_RxV: jax.Array, cont_RxL: jax.Array, cont_len_R: jax.Array, end_ids: jax.Array,
                     s_max: int) -> jax.Array:
    """`continuation_log_probs` of one continuation per copied row [R] (rows may repeat; the cache is unchanged)."""
    logits_RxLxV, _ = model.extend(cont_RxL, gather_rows(cache, rows_R, lengths_R, s_max))
    return continuation_log_probs(logits_RxLxV, prev_logp_RxV, cont_RxL, cont_len_R, end_ids)


def bucket(n: int, lo: int = 1) -> int:
    """The power of two >= max(n, lo): padded batch sizes take few shapes (few compilations)."""
    return max(lo, 1 << max(0, n - 1).bit_length())


class Decoder:
    """A model with a cache of `rows` prefix rows, and the operations above jitted over it.

    The cache lives here (`self.cache`); which row holds what, and how long it is, is the caller's to track.
    """

    def __init__(self, model: Transformer, rows: int):
        self.cfg = model.cfg
        graphdef, self.state = nnx.split(model)
        self.cache = model.init_cache(rows)

        def bound(fn):  # a function of the model -> the same function of the model's state
            return lambda state, *args: fn(nnx.merge(graphdef, state), *args)

        self._extend = jax.jit(bound(extend_rows), donate_argnums=(1,))
        self._branches = jax.jit(bound(score_branches), static_argnums=(8,))
        self._replicated = jax.jit(bound(score_replicated), static_argnums=(8,))

    @property
    def rows(self) -> int:
        return int(self.cache.lengths.shape[0])

    def grow(self) -> None:
        """Double the number of rows (the new ones are empty)."""
        self.cache = jax.tree.map(lambda a: jnp.concatenate([a, jnp.zeros_like(a)]), self.cache)

    def extend(self, rows_G: np.ndarray, lengths_G: np.ndarray, tokens_GxT: np.ndarray,
               num_valid_G: np.ndarray) -> np.ndarray:
        """`extend_rows` on the cache; returns the next-token log-probs [G, V] as numpy."""
        logp_GxV, self.cache = self._extend(self.state, self.cache, rows_G, lengths_G, tokens_GxT, num_valid_G)
        return np.asarray(logp_GxV)

    def score_continuations(self, rows: list[int], lengths: list[int], prev_logp: list[np.ndarray],
                            continuations: list[list[list[int]]], end_ids: np.ndarray,
                            shared: bool | None = None) -> list[np.ndarray]:
        """For each prefix i (cache row rows[i], lengths[i] tokens, next-token log-probs prev_logp[i]): the
        `continuation_log_probs` of each token list in continuations[i], float64.

        shared: score in one pass per group of prefixes (`score_branches`), or on replicated rows
        (`score_replicated`); None picks the shared pass unless the model's layers are stacked.
        """
        if shared is None:
            shared = not self.cfg.scan_layers
        # Prefix keys read: multiples of 64 (few shapes), with room for the longest continuation, which
        # `score_replicated` writes after each copied prefix.
        longest = max(len(t) for c in continuations for t in c)
        s_max = min(self.cfg.max_len, -(-(max(lengths) + longest) // 64) * 64)
        prefixes = (np.asarray(rows, np.int32), np.asarray(lengths, np.int32), np.stack(prev_logp))
        if shared:
            return self._score_shared(prefixes, continuations, end_ids, s_max)
        return self._score_rows(prefixes, continuations, end_ids, s_max)

    def _score_shared(self, prefixes: tuple, continuations: list[list[list[int]]], end_ids: np.ndarray,
                      s_max: int) -> list[np.ndarray]:
        rows, lengths, prev = prefixes
        K = -(-max(len(c) for c in continuations) // 8) * 8  # multiples of 8: little padding, few shapes
        L = max(len(t) for c in continuations for t in c)  # padding tokens cost full positions
        scores_bytes = 4 * 3 * K * self.cfg.n_head * L * (s_max + L)  # per prefix
        chunk = max(1, bucket(max(1, ROW_BYTES_BUDGET // scores_bytes)) // 2)
        out: list[np.ndarray] = []
        for lo in range(0, len(continuations), chunk):
            part = list(range(lo, min(lo + chunk, len(continuations))))
            idx = part + [part[0]] * (bucket(len(part)) - len(part))  # padding prefixes repeat the first one
            toks, lens = _pad([continuations[i] for i in idx], K, L)
            sc = self._branches(self.state, self.cache, rows[idx], lengths[idx], prev[idx], toks, lens, end_ids, s_max)
            sc = np.asarray(sc, np.float64)
            out.extend(sc[r, :len(continuations[i])] for r, i in enumerate(part))
        return out

    def _score_rows(self, prefixes: tuple, continuations: list[list[list[int]]], end_ids: np.ndarray,
                    s_max: int) -> list[np.ndarray]:
        rows, lengths, prev = prefixes
        flat = [(i, t) for i, c in enumerate(continuations) for t in c]
        row_bytes = 2 * self.cfg.n_layer * self.cfg.d_model * self.cache.keys[0].dtype.itemsize * s_max
        chunk = max(8, bucket(ROW_BYTES_BUDGET // row_bytes) // 2)
        L = max(len(t) for _, t in flat)
        scores = np.empty(len(flat))
        for lo in range(0, len(flat), chunk):
            part = flat[lo:lo + chunk]
            padded = part + [part[0]] * (bucket(len(part), 8) - len(part))  # padding rows repeat the first one
            toks, lens = _pad([[t] for _, t in padded], 1, L)
            idx = np.array([i for i, _ in padded])
            sc = self._replicated(self.state, self.cache, rows[idx], lengths[idx], prev[idx], toks[:, 0], lens[:, 0],
                                  end_ids, s_max)
            scores[lo:lo + len(part)] = np.asarray(sc)[:len(part)]
        bounds = np.cumsum([0] + [len(c) for c in continuations])
        return [scores[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _pad(groups: list[list[list[int]]], K: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Token lists -> tokens int32 [G, K, L] (zeros past each end) and lengths [G, K] (1 for padding slots)."""
    toks = np.zeros((len(groups), K, L), np.int32)
    lens = np.ones((len(groups), K), np.int32)
    for g, conts in enumerate(groups):
        for k, t in enumerate(conts):
            toks[g, k, :len(t)] = t
            lens[g, k] = len(t)
    return toks, lens
