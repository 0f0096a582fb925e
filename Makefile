# `make test`, `make demo` and `make bench` start from a bare clone: they create .venv, install the pinned
# requirements, and install Debian's stockfish and libtcmalloc-minimal4 when missing, then run with
# tcmalloc preloaded (JAX on CPU is 1.4-2x faster with it).
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Recursive (=): looked up when a recipe runs, i.e. after the `tcmalloc` prerequisite installed it.
TCMALLOC = $(firstword $(wildcard /usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4))
PRELOAD = $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC))
BENCH ?= ingest loader train eval
APT_INSTALL = $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq

.PHONY: install stockfish tcmalloc lint test test-heavy bench clean demo slurm

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements.txt
	$(VPY) -m pip install -q --no-deps -e .
	touch $@

# Debian installs the engine as /usr/games/stockfish, which is not on PATH.
stockfish:
	@if command -v stockfish >/dev/null || [ -x /usr/games/stockfish ]; then :; else \
	  echo "installing Debian's stockfish"; $(APT_INSTALL) stockfish; fi

tcmalloc:
	@if [ -n "$(TCMALLOC)" ]; then :; else \
	  echo "installing Debian's libtcmalloc-minimal4"; $(APT_INSTALL) libtcmalloc-minimal4; fi

# ruff (lint + import order) on the whole tree; mypy on the chess arena, the model and the file helpers.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy arena safeio jaxformer

# `make test` stays under 10 minutes on 2 cores; the whole-pipeline tests (marker `heavy`) run in `make test-heavy`,
# and CI runs both.
test: install stockfish tcmalloc
	$(PRELOAD) $(VPY) -m pytest -n 2 -q -m "not heavy" tests

test-heavy: install stockfish tcmalloc
	$(PRELOAD) $(VPY) -m pytest -n 2 -q -m heavy tests

bench: install stockfish tcmalloc
	@$(VPY) -m pip show torch >/dev/null 2>&1 || $(VPY) -m pip install -q torch==2.13.0  # the train bench's baseline
	@for b in $(BENCH); do $(PRELOAD) $(VPY) -m experiments.bench $$b || exit 1; done

# The single-node SLURM test cluster on localhost (tests/test_sweep_slurm.py); .ci/slurm/stop.sh stops it.
slurm:
	.ci/slurm/start.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The main job (README command 1, docs/demo.md): two arms, the diverse systematic population and its clones, each
# synth -> move-token shards -> tiny model -> evaluation, then one report side by side, all under $(DEMO_OUT),
# about 20 minutes on 2 CPU cores; rerunning continues. DATA=path.pgn.zst or DATA=lichess:YYYY-MM runs one arm on
# real games, trained below CUTOFF. DEMO_ARGS passes further options, e.g. DEMO_ARGS="--seed 1 --arms diverse".
DATA ?=
CUTOFF ?=
DEMO_OUT ?= runs/demo
DEMO_ARGS ?=
demo: install stockfish tcmalloc
	$(PRELOAD) $(VPY) -m experiments.demo --out $(DEMO_OUT) $(if $(DATA),--data $(DATA)) $(if $(CUTOFF),--cutoff $(CUTOFF)) $(DEMO_ARGS)
