"""Temperature sampling, written once: moves in move mode and characters in char mode both come from here."""
from __future__ import annotations

import math

import numpy as np


def sample_index(logp: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to exp(logp / temperature).

    temperature <= 0 is the arg-max (ties go to the first index) and draws nothing from `rng`; the
    log-probabilities need not be normalised.
    """
    logp = np.asarray(logp)  # its own dtype: char mode samples float32 log-probs as it always has
    if logp.ndim != 1 or logp.size == 0:
        raise ValueError(f"sample_index needs a non-empty 1-D array of log-probabilities, got shape {logp.shape}")
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number, got {temperature}")
    if temperature <= 0.0:
        return int(np.argmax(logp))
    z = logp / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))
