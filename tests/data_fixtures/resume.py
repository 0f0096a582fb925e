"""The loader's iterator through a real Orbax checkpoint, saved and restored as training does it."""
from __future__ import annotations

import pathlib

import grain
import orbax.checkpoint as ocp

from data_pipeline import LoaderSpec, make_dataset


def batches_across_a_restore(spec: LoaderSpec, ckpt_dir: pathlib.Path, after: int, n: int) -> tuple[list[dict], list[dict]]:
    """Read `after` batches, save the iterator in CKPT_DIR as step `after`, read `n` more; restore a fresh iterator
    from that checkpoint and read `n` -> (the batches read on, the restored iterator's batches)."""
    it = iter(make_dataset(spec, 0, 1))
    for _ in range(after):
        next(it)
    with ocp.CheckpointManager(ckpt_dir) as mngr:
        mngr.save(after, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
        mngr.wait_until_finished()
    expected = [next(it) for _ in range(n)]

    fresh = iter(make_dataset(spec, 0, 1))
    with ocp.CheckpointManager(ckpt_dir) as mngr:
        mngr.restore(after, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(fresh)))
    return expected, [next(fresh) for _ in range(n)]
