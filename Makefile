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

.PHONY: install run-round run test clean-runs

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

run-round: install
	$(PY) -m pseudolabel run-round --config $(CONFIG) $(SET_ARGS)

run: install
	$(PY) -m pseudolabel run --config $(CONFIG) $(SET_ARGS)

test: install
	$(PY) -m pytest -q

clean-runs:
	rm -rf runs/
