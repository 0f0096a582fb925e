"""Sharding: a (data=2, fsdp=2, tensor=2) mesh gives the single-device losses and gradients."""
import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxformer import sharding as shd
from jaxformer.config import MeshConfig, resolve_config
from jaxformer.step import make_setup, masked_loss_sums


def batch(B: int, L: int) -> dict[str, np.ndarray]:
    toks = np.random.default_rng(0).integers(0, 32, (B, L + 1))
    mask = np.ones((B, L), np.float32)
    mask[:, -5:] = 0.0  # padded tails must not count
    return {"inputs": toks[:, :-1].astype(np.int32), "targets": toks[:, 1:].astype(np.int32), "loss_mask": mask}


def run(cfg, mesh_cfg: MeshConfig, n_devices: int, steps: int = 2):
    mesh = shd.make_mesh(mesh_cfg, jax.devices()[:n_devices])
    setup = make_setup(cfg, mesh)
    params, opt_state = setup.init_fn()
    b = shd.global_batch(batch(8, 32), mesh)
    grad_fn = jax.jit(jax.grad(lambda p, x: masked_loss_sums(setup.static.graphdef, p, x)[0]),
                      in_shardings=(setup.param_shardings, shd.batch_sharding(mesh)), out_shardings=setup.param_shardings)
    grads = jax.device_get(grad_fn(params, b))
    losses = []
    for _ in range(steps):
        params, opt_state, m = setup.train_step(params, opt_state, b)
        losses.append(float(jax.device_get(m["loss"])))
    return grads, losses, jax.device_get(params), params


@pytest.mark.slow
def test_sharded_equals_single_device():
    # gradient accumulation (2 micro-batches) on: the micro-batch split must not change the sums either
    cfg = resolve_config("tiny", ["model.n_layer=2", "model.d_model=64", "model.max_len=32", "data.seq_len=32",
                                  "train.batch_size=8", "train.grad_accum=2", "optim.warmup_steps=1"])
    g1, l1, p1, _ = run(cfg, MeshConfig(1, 1, 1), 1)
    g8, l8, p8, placed = run(cfg, MeshConfig(2, 2, 2), 8)
    np.testing.assert_allclose(l1, l8, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g8)):  # float32 sums in another order: scale-relative
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(a).max())
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p8)):  # Adam steps of lr size: compare absolutely
        np.testing.assert_allclose(a, b, atol=2e-5)
    # the parameters really are split: the MLP input matrix over fsdp (embed) and tensor (mlp)
    w_in = placed["blocks"][0]["mlp"]["w_in"]
    assert w_in.sharding.spec == P("fsdp", "tensor")
    assert w_in.addressable_shards[0].data.shape == (32, 128)


def test_logical_rules_and_mesh_shapes():
    mesh = shd.make_mesh(MeshConfig(data=2, fsdp=2, tensor=2))
    assert shd.logical_to_spec(("embed", "heads", None), (64, 4, 16), mesh) == P("fsdp", "tensor", None)
    # 5 heads do not split over tensor=2: that dimension stays replicated instead of failing
    assert shd.logical_to_spec(("embed", "heads", None), (64, 5, 16), mesh) == P("fsdp", None, None)
    assert shd.logical_to_spec(("batch", "length"), (8, 32), mesh) == P(("data", "fsdp"), None)
    assert shd.mesh_shape(MeshConfig(data=-1, fsdp=2, tensor=1), 8) == (4, 2, 1)
    with pytest.raises(ValueError, match="needs 4 devices but 8"):
        shd.mesh_shape(MeshConfig(data=2, fsdp=2, tensor=1), 8)
    with pytest.raises(ValueError, match="not divisible"):
        shd.mesh_shape(MeshConfig(data=-1, fsdp=3, tensor=1), 8)
