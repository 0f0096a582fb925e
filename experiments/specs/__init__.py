"""Sweep specs shipped with the project (`transcend sweep experiments/specs/NAME.py`); see docs/sweeps.md."""
