# `make test` and `make demo` start from a bare clone: they create .venv, install the pinned
# requirements and Debian's stockfish when missing, then run.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TCMALLOC := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4))
BENCH ?= ingest loader train eval

.PHONY: install stockfish test bench clean demo

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
	  echo "installing Debian's stockfish"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq stockfish; fi

test: install stockfish
	$(VPY) -m pytest -n 2 -q tests

# Benchmarks print a JSON line last; tcmalloc is preloaded when present (faster JAX on CPU).
bench: install stockfish
	@$(VPY) -m pip show torch >/dev/null 2>&1 || $(VPY) -m pip install -q torch==2.13.0  # the train bench's baseline
	@for b in $(BENCH); do LD_PRELOAD=$(TCMALLOC) $(VPY) -m experiments.bench $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache

# The main job (README command 1): synthetic experts -> shards -> tiny model -> evaluation -> report, all under
# $(DEMO_OUT), about 20 minutes on 2 CPU cores; rerunning continues. DATA=path.pgn.zst or DATA=lichess:YYYY-MM
# runs the same pipeline on real games, trained below CUTOFF.
DATA ?=
CUTOFF ?=
DEMO_OUT ?= runs/demo
demo: install stockfish
	LD_PRELOAD=$(TCMALLOC) $(VPY) -m experiments.demo --out $(DEMO_OUT) $(if $(DATA),--data $(DATA)) $(if $(CUTOFF),--cutoff $(CUTOFF))
