"""Content digests of checkpointed state: one sha256 per array (its dtype, shape and host bytes) and one of the
data iterator's state, so a restore can tell an intact checkpoint from one damaged on disk; and one (size,
sha256) per file of a written checkpoint, so damage on disk is found before anything reads the files.

Orbax checks neither: a flipped byte in an array file can decode to wrong numbers, and training would resume
from them. The state digests are written with the checkpoint and compared after every restore; the file
digests are taken once the checkpoint is final and compared before a restore: Orbax reading a truncated or
missing file fails half-way with its reads still pending, which print tracebacks at exit.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Iterable
from typing import Any

import jax
import numpy as np

Digests = dict[str, str]
FileDigest = dict[str, Any]  # {"bytes": size, "sha256": hex digest}
FileDigests = dict[str, FileDigest]  # relative POSIX path -> its FileDigest
_CHUNK_BYTES = 1 << 20


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


def file_digest(path: pathlib.Path) -> FileDigest:
    """Size and sha256 of one file, read in chunks (array files can be large)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            h.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def relative_files(root: pathlib.Path) -> list[str]:
    """Every regular file under `root`, as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def dir_digests(root: pathlib.Path, skip: Iterable[str] = ()) -> FileDigests:
    """{relative path: FileDigest} of every file under `root` but those named in `skip`."""
    skipped = set(skip)
    return {rel: file_digest(root / rel) for rel in relative_files(root) if rel not in skipped}


def file_problems(root: pathlib.Path, expected: FileDigests, present: Iterable[str]) -> list[str]:
    """'PATH (what is wrong)' for each file that `expected` lists but `root` lacks or holds with another size or
    content, and for each file of `present` (paths found under `root`) that `expected` does not list. Sizes are
    compared first, so a truncated file is named without reading it."""
    problems = []
    found = set(present)
    for rel, want in sorted(expected.items()):
        path = root / rel
        if rel not in found or not path.is_file():
            problems.append(f"{rel} (missing)")
        elif (size := path.stat().st_size) != want["bytes"]:
            problems.append(f"{rel} ({size} bytes, {want['bytes']} when written)")
        elif file_digest(path)["sha256"] != want["sha256"]:
            problems.append(f"{rel} (its content changed)")
    problems += [f"{rel} (not written with the checkpoint)" for rel in sorted(found - expected.keys())]
    return problems
