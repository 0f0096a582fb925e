"""A population of imperfect experts: Stockfish at a node limit, plus a bias policy played with probability epsilon.

Strength rises with the node limit and falls with epsilon (the bias rate b_i); expert 0 is the weakest.
Two populations (`--population`):

- subset (the default): biases are dealt round-robin from the bias mix (subset policies: a uniform
  pick within a class of moves), so neighbours in strength make different kinds of mistakes.
  `--clones` replaces the population by one expert of the population's mean strength (geometric
  mean node limit, mean epsilon, the mix's first bias).
- systematic (issue 10): each expert gets a different systematic bias (one fixed move per position),
  dealt in order from the mix, at bias rates above 1/2 by default, so each expert's own arg-max is
  its bias while the population's majority is the engine's move. `--clones` copies the population's
  median expert (index (size-1)//2: the weaker middle one for an even size) exactly.

With `--clones` every game is that expert against itself: the paper's no-diversity ablation.
"""
from __future__ import annotations

import math

from arena import DEFAULT_BIAS_MIX, SYSTEMATIC_BIASES, EngineSpec, Expert

POPULATIONS = ("subset", "systematic")
DEFAULT_EPSILON = {"subset": (0.1, 0.5), "systematic": (0.55, 0.75)}
DEFAULT_BIASES = {"subset": DEFAULT_BIAS_MIX, "systematic": SYSTEMATIC_BIASES}


def _interp(lo: float, hi: float, frac: float, geometric: bool) -> float:
    if geometric:
        return math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo)))
    return lo + frac * (hi - lo)


def build_population(size: int, nodes_range: tuple[int, int], epsilon_range: tuple[float, float],
                     biases: list[str], skill: int = 20, clones: bool = False,
                     population: str = "subset") -> list[Expert]:
    """`size` experts from weakest (fewest nodes, largest epsilon) to strongest, or their clone (see above)."""
    if population not in POPULATIONS:
        raise ValueError(f"--population {population!r} is unknown; choose from {', '.join(POPULATIONS)}")
    if size < 1 or (size < 2 and not clones):
        raise ValueError(f"--experts must be >= 2 (games pair two different experts), got {size}; "
                         "use --clones for a single-expert population")
    lo_nodes, hi_nodes = nodes_range
    if not 1 <= lo_nodes <= hi_nodes:
        raise ValueError(f"--nodes LO HI needs 1 <= LO <= HI, got {lo_nodes} {hi_nodes}")
    hi_eps, lo_eps = max(epsilon_range), min(epsilon_range)
    if not biases:
        raise ValueError("--biases is empty: name at least one bias policy")
    if population == "systematic":
        _check_systematic(size, biases)
    elif clones:
        nodes = round(_interp(lo_nodes, hi_nodes, 0.5, geometric=True))
        eps = round((lo_eps + hi_eps) / 2, 4)
        name = f"clone-{biases[0]}-n{nodes}-eps{round(eps * 100):02d}"
        return [Expert(name, EngineSpec(skill=skill, nodes=nodes), biases[0], eps)]
    experts = []
    for i in range(size):
        frac = i / (size - 1) if size > 1 else 0.5
        nodes = round(_interp(lo_nodes, hi_nodes, frac, geometric=True))
        eps = round(_interp(hi_eps, lo_eps, frac, geometric=False), 4)
        bias = biases[i % len(biases)]
        name = f"x{i:02d}-{bias}-n{nodes}-eps{round(eps * 100):02d}"
        experts.append(Expert(name, EngineSpec(skill=skill, nodes=nodes), bias, eps))
    if clones:  # systematic: the median expert itself, renamed so its games are told apart from the population's
        median = experts[(size - 1) // 2]
        return [Expert(f"clone-{median.name}", median.engine, median.bias, median.epsilon)]
    return experts


def _check_systematic(size: int, biases: list[str]) -> None:
    """One different systematic bias per expert."""
    foreign = [b for b in biases if b not in SYSTEMATIC_BIASES]
    if foreign:
        raise ValueError(f"--biases {','.join(foreign)}: not systematic, but --population systematic deals "
                         f"systematic biases only; choose from {', '.join(SYSTEMATIC_BIASES)}")
    if len(set(biases)) != len(biases):
        raise ValueError(f"--biases {','.join(biases)} repeats a name, but --population systematic gives every "
                         "expert a different bias; name each once")
    if len(biases) < size:
        raise ValueError(f"--population systematic needs a different bias for each of the {size} experts, but "
                         f"--biases names {len(biases)}; name more (known: {', '.join(SYSTEMATIC_BIASES)}) "
                         "or lower --experts")
