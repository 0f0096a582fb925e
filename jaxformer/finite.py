"""Numerical health of a run: a non-finite loss, gradient or parameter stops training before it can be saved.

Each jitted step returns a `finite` flag (loss and gradient norm); `FiniteWatch` keeps the flags on the device
and reads them in one transfer at log steps and before every save, so the check costs no per-step sync.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

# Flags held at most this many steps before they are read (bounds memory when log_every is large).
MAX_PENDING = 100


class NonFiniteError(ValueError):
    """Training produced NaN/inf; the message names the step and what to change."""


@jax.jit
def all_finite(tree: Any) -> jax.Array:
    """True when every floating-point array of `tree` holds only finite numbers."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.array(True)


class FiniteWatch:
    """The `finite` flags of the steps since the last check, still on the device."""

    def __init__(self) -> None:
        self._pending: list[tuple[int, jax.Array]] = []

    def add(self, step: int, finite: jax.Array) -> bool:
        """Record a step's flag; True when enough are pending that they should be read now."""
        self._pending.append((step, finite))
        return len(self._pending) >= MAX_PENDING

    def first_bad_step(self) -> int | None:
        """The first recorded step whose loss or gradient norm was not finite (None: all finite); clears the record."""
        steps = [s for s, _ in self._pending]
        flags = jax.device_get([f for _, f in self._pending])
        self._pending.clear()
        return next((s for s, ok in zip(steps, flags) if not bool(ok)), None)
