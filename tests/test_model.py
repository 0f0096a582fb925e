"""Model: causal forward, KV-cached decoding equals the uncached forward, options, initial loss."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxformer.config import ModelConfig
from jaxformer.model import Transformer, count_params


def small(**kw) -> ModelConfig:
    return ModelConfig(**{**dict(n_layer=2, n_head=4, d_model=32, max_len=48), **kw})


forward = nnx.jit(lambda m, t: m(t))
extend = nnx.jit(lambda m, t, c, n=None: m.extend(t, c, n))


def tokens(B: int, L: int, seed: int = 1) -> jax.Array:
    return jax.random.randint(jax.random.key(seed), (B, L), 0, 32)


@pytest.mark.parametrize("opts", [{}, {"position": "rope", "norm": "rmsnorm", "scan_layers": True,
                                       "tie_embeddings": False}])
def test_kv_cache_matches_uncached_forward(opts):
    model = Transformer(small(**opts), rngs=nnx.Rngs(0))
    toks_BxL = tokens(3, 14)
    full_BxLxV = forward(model, toks_BxL)
    assert full_BxLxV.dtype == jnp.float32 and full_BxLxV.shape == (3, 14, 32)

    cache = model.init_cache(3)
    outs = []
    for t in range(14):  # token by token
        logits, cache = extend(model, toks_BxL[:, t:t + 1], cache)
        outs.append(logits)
    np.testing.assert_allclose(jnp.concatenate(outs, 1), full_BxLxV, atol=2e-5)
    assert cache.lengths.tolist() == [14, 14, 14]

    # Chunks of different lengths per row: 7 valid tokens padded to 10, then the rest in one chunk.
    cache = model.init_cache(3, max_len=32)
    padded = jnp.concatenate([toks_BxL[:, :7], jnp.full((3, 3), 5)], 1)
    lg1, cache = extend(model, padded, cache, jnp.array([7, 7, 7]))
    assert cache.lengths.tolist() == [7, 7, 7]
    lg2, cache = extend(model, toks_BxL[:, 7:], cache)
    np.testing.assert_allclose(lg1[:, :7], full_BxLxV[:, :7], atol=2e-5)
    np.testing.assert_allclose(lg2, full_BxLxV[:, 7:], atol=2e-5)


def test_rows_advance_independently_and_gather():
    model = Transformer(small(), rngs=nnx.Rngs(0))
    toks_BxL = tokens(2, 12)
    full = forward(model, toks_BxL)
    cache = model.init_cache(2)
    # row 0 takes 5 tokens, row 1 takes 3 (its last 2 are padding, overwritten next call)
    _, cache = extend(model, toks_BxL[:, :5], cache, jnp.array([5, 3]))
    nxt = jnp.stack([toks_BxL[0, 5:9], toks_BxL[1, 3:7]])
    logits, cache = extend(model, nxt, cache)
    np.testing.assert_allclose(logits[0], full[0, 5:9], atol=2e-5)
    np.testing.assert_allclose(logits[1], full[1, 3:7], atol=2e-5)
    # replicate row 1 twice and continue: both copies see the same context
    rep = jax.tree.map(lambda a: a[jnp.array([1, 1])], cache)
    logits, _ = extend(model, jnp.stack([toks_BxL[1, 7:9]] * 2), rep)
    np.testing.assert_allclose(logits[0], full[1, 7:9], atol=2e-5)
    np.testing.assert_allclose(logits[1], full[1, 7:9], atol=2e-5)


def test_forward_is_causal():
    model = Transformer(small(), rngs=nnx.Rngs(0))
    a = tokens(1, 16)
    b = a.at[0, 10].set((a[0, 10] + 1) % 32)
    la, lb = forward(model, a), forward(model, b)
    np.testing.assert_array_equal(la[0, :10], lb[0, :10])
    assert not np.allclose(la[0, 10:], lb[0, 10:])


def test_attention_paths_and_remat_agree():
    toks_BxL = tokens(2, 16)
    base = Transformer(small(attention="einsum"), rngs=nnx.Rngs(0))
    fused = Transformer(small(attention="dot_product", remat="full"), rngs=nnx.Rngs(0))
    np.testing.assert_allclose(forward(base, toks_BxL), forward(fused, toks_BxL), atol=2e-5)

    def loss(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(toks_BxL[:, :-1]), toks_BxL[:, 1:]).mean()
    grad = nnx.jit(nnx.grad(loss))
    g1, g2 = grad(base), grad(fused)
    for x, y in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_initial_loss_near_log_vocab_and_param_count():
    cfg = small()
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    toks_BxL = tokens(4, 48)
    logits = forward(model, toks_BxL[:, :-1])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, toks_BxL[:, 1:]).mean()
    assert abs(float(loss) - math.log(32)) < 0.05
    D, L, V, S = 32, 2, 32, 48
    expected = V * D + S * D + L * (4 * D * D + 8 * D * D + 2 * D) + D  # tied head, no biases
    assert count_params(model) == expected


def test_too_long_input_is_rejected():
    model = Transformer(small(), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="max_len"):
        model(tokens(1, 49))
