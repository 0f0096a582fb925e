"""A population of imperfect experts: Stockfish at a node limit, plus a bias policy played with probability epsilon.

Strength rises with the node limit and falls with epsilon; expert 0 is the weakest. Biases are dealt
round-robin from the bias mix, so neighbours in strength make different kinds of mistakes.
`--clones` replaces the population by one expert of the population's mean strength (geometric mean
node limit, mean epsilon, the mix's first bias): every game is that expert against itself, the
paper's no-diversity ablation.
"""
from __future__ import annotations

import math

from arena import EngineSpec, Expert


def _interp(lo: float, hi: float, frac: float, geometric: bool) -> float:
    if geometric:
        return math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo)))
    return lo + frac * (hi - lo)


def build_population(size: int, nodes_range: tuple[int, int], epsilon_range: tuple[float, float],
                     biases: list[str], skill: int = 20, clones: bool = False) -> list[Expert]:
    """`size` experts from weakest (fewest nodes, largest epsilon) to strongest, or one clone of the mean."""
    if size < 1 or (size < 2 and not clones):
        raise ValueError(f"--experts must be >= 2 (games pair two different experts), got {size}; "
                         "use --clones for a single-expert population")
    lo_nodes, hi_nodes = nodes_range
    if not 1 <= lo_nodes <= hi_nodes:
        raise ValueError(f"--nodes LO HI needs 1 <= LO <= HI, got {lo_nodes} {hi_nodes}")
    hi_eps, lo_eps = max(epsilon_range), min(epsilon_range)
    if not biases:
        raise ValueError("--biases is empty: name at least one bias policy")
    if clones:
        nodes = round(_interp(lo_nodes, hi_nodes, 0.5, geometric=True))
        eps = round((lo_eps + hi_eps) / 2, 4)
        name = f"clone-{biases[0]}-n{nodes}-eps{round(eps * 100):02d}"
        return [Expert(name, EngineSpec(skill=skill, nodes=nodes), biases[0], eps)]
    experts = []
    for i in range(size):
        frac = i / (size - 1)
        nodes = round(_interp(lo_nodes, hi_nodes, frac, geometric=True))
        eps = round(_interp(hi_eps, lo_eps, frac, geometric=False), 4)
        bias = biases[i % len(biases)]
        name = f"x{i:02d}-{bias}-n{nodes}-eps{round(eps * 100):02d}"
        experts.append(Expert(name, EngineSpec(skill=skill, nodes=nodes), bias, eps))
    return experts

