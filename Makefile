# The whole set-up: `make demo` and `make test` create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BFCL_EVAL := bfcl-eval==2026.3.23
HYDRA_RAY_LAUNCHER := hydra-ray-launcher==1.2.2
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch from the pinned build first: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[envs,dev]'
	# bfcl-eval pins many heavy packages; only its data and pure-Python backends are used.
	$(PY) -m pip install -q --no-deps $(BFCL_EVAL)
	# Hydra's Ray launcher pins cloudpickle<3 and boto3 (for AWS); its local launcher needs neither.
	$(PY) -m pip install -q --no-deps $(HYDRA_RAY_LAUNCHER)
	touch $(STAMP)

demo: install
	$(VENV)/bin/earlyexp demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: install
	@for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
