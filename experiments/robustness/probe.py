"""`python -m experiments.robustness.probe RUN [STEP]`: the weights `load_for_inference` gives, as one JSON line.

{"step": S, "digest": sha256 over every parameter (path, dtype, shape, bytes), "arrays": n}, or {"error": "..."}
when it refuses the run (CheckpointError, or any other exception: its type and message).
"""
from __future__ import annotations

import hashlib
import json
import sys


def params_digest(model: object) -> tuple[str, int]:
    import jax
    import numpy as np
    from flax import nnx

    leaves, _ = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    h = hashlib.sha256()
    for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0])):
        host = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{jax.tree_util.keystr(path)}|{host.dtype.str}|{host.shape}|".encode())
        h.update(host.tobytes())
    return h.hexdigest(), len(leaves)


def main(argv: list[str]) -> int:
    from jaxformer.checkpoint import load_for_inference

    step = int(argv[1]) if len(argv) > 1 else None
    try:
        model, got, _ = load_for_inference(argv[0], step)
    except Exception as err:  # noqa: BLE001 - any refusal is a figure here, not a crash of the probe
        print(json.dumps({"error": f"{type(err).__name__}: {str(err)[:400]}"}))
        return 0
    digest, n = params_digest(model)
    print(json.dumps({"step": got, "digest": digest, "arrays": n}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
