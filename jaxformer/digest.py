"""Content digests of checkpointed state: one sha256 per array (its dtype, shape and host bytes) and one of the
data iterator's state, so a restore can tell an intact checkpoint from one damaged on disk.

Orbax checks neither: a flipped byte in an array file can decode to wrong numbers, and training would resume
from them. The digests are written with the checkpoint and compared after every restore.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import jax
import numpy as np

Digests = dict[str, str]


def array_digest(x: Any) -> str:
    """sha256 of an array's dtype, shape and bytes (a device array is copied to the host first)."""
    host = np.ascontiguousarray(np.asarray(jax.device_get(x)))
    h = hashlib.sha256(f"{host.dtype.str}{host.shape}".encode())
    h.update(host.tobytes())
    return h.hexdigest()


def tree_digests(tree: Any) -> Digests | None:
    """{leaf path: digest} of every array of a pytree; None when some array is not fully addressable from this
    process (a multi-host sharded state: its bytes are not all here, so it cannot be digested here)."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    if any(isinstance(x, jax.Array) and not x.is_fully_addressable for _, x in flat):
        return None
    return {jax.tree_util.keystr(path): array_digest(x) for path, x in flat}


def state_digest(state: Any) -> str:
    """sha256 of a JSON-able iterator state (Grain's get_state()); bytes are hashed as hex."""
    text = json.dumps(state, sort_keys=True, default=lambda v: v.hex() if isinstance(v, bytes) else repr(v))
    return hashlib.sha256(text.encode()).hexdigest()


def mismatches(expected: Digests, actual: Digests) -> list[str]:
    """Names of the arrays whose digest differs, or that only one side has."""
    return sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
