# Two commands on a fresh machine:  `make study` (set up + quick robustness study), `make test` (set up + tests).
# The virtual environment sees system site-packages, so a torch already installed (e.g. a CUDA build) is kept;
# otherwise TORCH is installed first (the CPU wheel on this machine). Override: make TORCH="torch==2.5.1" test
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin
# pytest-xdist workers for make test / test-slow: one per core (each runs its tests on one torch thread), at most 4
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses 4

.PHONY: setup study test test-slow test-triton bench mutation clean

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
	$(PYTEST)

test-slow: $(STAMP)
	$(PYTEST) -m slow

# The Triton (CUDA) LIF kernel tested on CPU through Triton's interpreter; installs the [gpu] extra (~1 GB).
test-triton: $(STAMP)
	$(BIN)/python -c "import triton" 2>/dev/null || $(BIN)/python -m pip install -q -e ".[gpu]"
	TRITON_INTERPRET=1 $(BIN)/python -m pytest -q tests/test_fused_triton.py
	TRITON_INTERPRET=1 $(BIN)/python -m pytest -q tests/test_fused_recurrent.py -k triton
	TRITON_INTERPRET=1 $(BIN)/python -m pytest -q tests/test_fused_adaptive.py -k triton

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_epoch.py

# Mutation testing, not in CI (tens of minutes): mutmut mutates the files named in pyproject.toml's [tool.mutmut]
# one change at a time, runs the fast tests listed there against each mutant, then prints the score per module
# (killed / all mutants; "no tests" = mutants in code that no listed test reaches). Resumes where it stopped.
mutation: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[mutation]"
	$(BIN)/mutmut run --max-children $(or $(JOBS),2) > /dev/null
	$(BIN)/mutmut results --all true | sed -E 's/^ *(.+)\.x[_ǁ][^:]*: (.*)$$/\1 \2/' | sort | uniq -c | \
		awk '{n[$$2] += $$1; if ($$3 == "killed") k[$$2] += $$1; else s[$$2] = s[$$2] " " $$1 " " $$3 " " $$4} \
		END {for (m in n) printf "%-40s %4d mutants, %5.1f %% killed;%s\n", m, n[m], 100 * k[m] / n[m], s[m]}'

clean:
	rm -rf $(VENV) results .pytest_cache mutants
