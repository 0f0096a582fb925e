"""Temperature, written once: the distribution at T (for analyses and notebooks) and the draw from it (moves in
move mode and characters in char mode) both come from here."""
from __future__ import annotations

import math

import numpy as np


def temperature_probabilities(logp: np.ndarray, temperature: float) -> np.ndarray:
    """p_i proportional to exp(logp_i / T), in logp's own dtype; T <= 0 is the arg-max as a one-hot vector (ties to
    the first index). The log-probabilities need not be normalised."""
    logp = np.asarray(logp)
    if logp.ndim != 1 or logp.size == 0:
        raise ValueError(f"temperature needs a non-empty 1-D array of log-probabilities, got shape {logp.shape}")
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number, got {temperature}")
    if temperature <= 0.0:
        probs = np.zeros_like(logp)
        probs[int(np.argmax(logp))] = 1
        return probs
    z = logp / temperature
    p = np.exp(z - z.max())
    return p / p.sum()


def sample_index(logp: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to exp(logp / temperature).

    temperature <= 0 is the arg-max (ties go to the first index) and draws nothing from `rng`; the
    log-probabilities need not be normalised.
    """
    p = temperature_probabilities(logp, temperature)  # logp's own dtype: char mode samples float32 as it always has
    if temperature <= 0.0:
        return int(np.argmax(p))
    return int(rng.choice(len(p), p=p))
