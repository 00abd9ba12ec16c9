# The two commands of the README: `make run-round` and `make test`. Both install what is missing
# into .venv/ first. torch is pinned and installed on its own, before anything that depends on it,
# so that pip never resolves an unpinned torch (that would pull the CUDA build on a CPU machine).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
CONFIG ?= experiments/ag_news_1k.yaml
SET ?=
SET_ARGS := $(foreach s,$(SET),--set $(s))

.PHONY: install install-bench run-round run test bench-accuracy bench-review bench-speed clean-runs

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# The benchmarks' extra dependencies (SetFit, matplotlib), never needed by the package itself.
install-bench: $(VENV)/.installed-bench

$(VENV)/.installed-bench: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev,bench]"
	touch $@

run-round: install
	$(PY) -m pseudolabel run-round --config $(CONFIG) $(SET_ARGS)

run: install
	$(PY) -m pseudolabel run --config $(CONFIG) $(SET_ARGS)

test: install
	$(PY) -m pytest -q

# Options: make bench-accuracy BENCH_ARGS="--datasets sst2 --seeds 0 --methods pseudolabel --pool-size 2000"
DATA ?= ../shared/datasets
BENCH_ARGS ?=
bench-accuracy: install-bench
	$(PY) experiments/bench_accuracy.py --data $(DATA) $(BENCH_ARGS)

# People in the loop: after round 0, N rows from `review` against N random rows, the pool's gold
# labels answering (docs/people-in-the-loop.md). Options as bench-accuracy, e.g. BENCH_ARGS="--datasets sst2"
bench-review: install-bench
	$(PY) experiments/bench_accuracy.py --data $(DATA) --methods --review --out runs/bench-review $(BENCH_ARGS)

# Labeling and training throughput against transformers.pipeline and a plain float32 loop, and
# one round's wall time (../shared/BENCHMARK.md, Speed). Options: SPEED_ARGS="--n-label 1000 --skip-round"
bench-speed: install
	$(PY) experiments/bench_speed.py --data $(DATA) $(SPEED_ARGS)

clean-runs:
	rm -rf runs/
