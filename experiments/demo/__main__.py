"""`python -m experiments.demo`: see experiments.demo.cli."""
import sys

from experiments.demo.cli import main

sys.exit(main(sys.argv[1:]))
