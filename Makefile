# Two commands on a fresh machine:  `make study` (set up + quick robustness study), `make test` (set up + tests).
# The virtual environment sees system site-packages, so a torch already installed (e.g. a CUDA build) is kept;
# otherwise TORCH is installed first (the CPU wheel on this machine). Override: make TORCH="torch==2.5.1" test
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: setup study test test-slow bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	# the test extra holds nirtorch, whose unpinned torch requirement the torch installed above satisfies, so pip
	# keeps that build (checked with pip install --dry-run in a fresh venv: no torch among what it would install)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/python studies/robustness.py --preset quick --out results/robustness-quick

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_epoch.py

clean:
	rm -rf $(VENV) results .pytest_cache
