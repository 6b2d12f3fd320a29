# Two commands on a fresh machine:  `make study` (set up + quick robustness study), `make test` (set up + tests).
# The virtual environment sees system site-packages, so a torch already installed (e.g. a CUDA build) is kept;
# otherwise TORCH is installed first (the CPU wheel on this machine). Override: make TORCH="torch==2.5.1" test
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: setup study test test-slow test-triton bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/python studies/robustness.py --preset quick --out results/robustness-quick

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The Triton (CUDA) LIF kernel tested on CPU through Triton's interpreter; installs the [gpu] extra (~1 GB).
test-triton: $(STAMP)
	$(BIN)/python -c "import triton" 2>/dev/null || $(BIN)/python -m pip install -q -e ".[gpu]"
	TRITON_INTERPRET=1 $(BIN)/python -m pytest -q tests/test_fused_triton.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_epoch.py

clean:
	rm -rf $(VENV) results .pytest_cache
