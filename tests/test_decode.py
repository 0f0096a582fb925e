"""The public inference API: branch scoring == `extend` on a private copy of the cache, for every block variant."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxformer import decode
from jaxformer.config import ModelConfig
from jaxformer.model import Transformer

END_IDS = np.array([0, 7])
VARIANTS = [{}, {"position": "rope", "norm": "rmsnorm", "tie_embeddings": False}]


def small(**kw) -> ModelConfig:
    # A large init scale makes the random model far from uniform, so a wrong position or mask shows.
    return ModelConfig(**{**dict(n_layer=2, n_head=4, d_model=32, max_len=48, init_std=0.4), **kw})


def filled_cache(model: Transformer, lengths: list[int], seed: int = 0):
    """A 4-row cache whose rows hold random prefixes of `lengths` (row 3 stays empty), via decode.extend_rows."""
    rows = np.arange(len(lengths), dtype=np.int32)
    T = max(lengths)
    toks = np.asarray(jax.random.randint(jax.random.key(seed), (len(lengths), T), 0, 32), np.int32)
    logp, cache = decode.extend_rows(model, model.init_cache(4), rows, np.zeros(len(lengths), np.int32), toks,
                                     np.array(lengths, np.int32))
    return cache, np.asarray(logp), toks


@pytest.mark.parametrize("opts", VARIANTS)
def test_branch_logits_and_scores_equal_extend_on_a_private_copy(opts):
    model = Transformer(small(**opts), rngs=nnx.Rngs(0))
    lengths = [9, 4, 13]
    cache, prev_logp, _ = filled_cache(model, lengths)
    rows = np.array([2, 0, 1], np.int32)  # not in row order: the gather must follow `rows`
    lens = np.array([lengths[r] for r in rows], np.int32)
    G, K, L = 3, 4, 5
    cont = np.asarray(jax.random.randint(jax.random.key(1), (G, K, L), 0, 32), np.int32)
    cont_len = np.array([[5, 1, 3, 2], [4, 5, 1, 2], [2, 3, 5, 4]], np.int32)
    s_max = 32

    branch_logits = model.extend_branches(jnp.asarray(cont), decode.gather_rows(cache, rows, lens, s_max))
    scores = np.asarray(decode.score_branches(model, cache, rows, lens, prev_logp[rows], cont, cont_len, END_IDS, s_max))
    for g in range(G):
        for k in range(K):
            private = decode.gather_rows(cache, rows[g:g + 1], lens[g:g + 1])  # a copy of the one row
            logits, _ = model.extend(jnp.asarray(cont[g:g + 1, k]), private)
            np.testing.assert_allclose(branch_logits[g, k], logits[0], atol=2e-5)
            logp = np.asarray(jax.nn.log_softmax(logits[0], axis=-1), np.float64)
            n = cont_len[g, k]
            want = prev_logp[rows[g], cont[g, k, 0]] + sum(logp[i, cont[g, k, i + 1]] for i in range(n - 1))
            want += np.logaddexp.reduce(logp[n - 1, END_IDS])
            assert scores[g, k] == pytest.approx(want, abs=2e-4)
    assert np.ptp(scores) > 1.0  # the check is not vacuous: continuations score differently


@pytest.mark.parametrize("opts", VARIANTS)
def test_decoder_shared_and_replicated_passes_agree(opts):
    model = Transformer(small(**opts), rngs=nnx.Rngs(2))
    dec = decode.Decoder(model, rows=2)
    toks = np.asarray(jax.random.randint(jax.random.key(3), (2, 11), 0, 32), np.int32)
    prev = dec.extend(np.array([0, 1], np.int32), np.zeros(2, np.int32), toks, np.array([11, 6], np.int32))
    conts = [[[3, 4, 5], [6], [7, 8]], [[9, 10, 11, 12], [13, 14]]]
    args = ([0, 1], [11, 6], list(prev), conts, END_IDS)
    shared = dec.score_continuations(*args, shared=True)
    replicated = dec.score_continuations(*args, shared=False)
    assert [len(s) for s in shared] == [3, 2]
    for a, b in zip(shared, replicated):
        np.testing.assert_allclose(a, b, atol=2e-4)


def test_stacked_layers_score_on_replicated_rows():
    model = Transformer(small(scan_layers=True), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="scan_layers"):
        model.extend_branches(jnp.zeros((1, 2, 3), jnp.int32), model.init_cache(1))
    dec = decode.Decoder(model, rows=1)
    prefix = [1, 2, 3, 4, 5]
    prev = dec.extend(np.zeros(1, np.int32), np.zeros(1, np.int32), np.array([prefix], np.int32), np.array([5], np.int32))
    (scores,) = dec.score_continuations([0], [5], [prev[0]], [[[6, 7], [8]]], END_IDS)
    full = np.asarray(jax.nn.log_softmax(model(jnp.array([prefix + [6, 7], prefix + [8, 0]])), axis=-1), np.float64)
    want = [full[0, 4, 6] + full[0, 5, 7] + np.logaddexp.reduce(full[0, 6, END_IDS]),
            full[1, 4, 8] + np.logaddexp.reduce(full[1, 5, END_IDS])]
    np.testing.assert_allclose(scores, want, atol=2e-4)
