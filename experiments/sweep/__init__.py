"""`transcend sweep`: grids of training runs, evaluated and reported, on this machine, SLURM or a TPU pod.

A spec file imports its vocabulary from here: `from experiments.sweep import Sweep, Evaluation, Population, Resources`.
"""
from experiments.sweep.spec import PAPER_TEMPERATURES, Evaluation, Point, Population, Resources, Sweep

__all__ = ["PAPER_TEMPERATURES", "Evaluation", "Point", "Population", "Resources", "Sweep"]
