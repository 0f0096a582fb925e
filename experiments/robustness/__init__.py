"""Robustness checks of issue 12, run at the end by the lead: `python -m experiments.robustness NAME [--trials N]`.

Each check attacks the project as a user's cluster would (kill -9, damaged files, concurrent workers, fuzzed
PGN) through the public command line (`python -m experiments.cli ...` subprocesses) on real files and tiny
configs, prints its progress, and last one JSON line: {"check": NAME, "trials", "passed", "failed": [{"trial",
"reason"}], ...figures}. The checks: train-kill, eval-kill, concurrency, checkpoint-damage, fuzz (one module
each); common.py holds the subprocess, tiny data and tiny run helpers, probe.py reads a run's weights.
"""
