# `make train` and `make test` set everything up on a fresh machine (Python 3.10 venv).
# Override the interpreter with `make test PYTHON=/path/to/python3.10`.
VENV ?= .venv
PYTHON ?= $(shell for p in python3.10 $$(ls -d $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10 2>/dev/null); do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo $$p; break; }; done)
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TRAIN_ARGS ?=

.PHONY: setup train test bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x "$(VPY)" ]; then \
		if [ -z "$(PYTHON)" ]; then echo "error: no Python 3.10 found; install it or run 'make PYTHON=/path/to/python3.10'" >&2; exit 1; fi; \
		echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

train: $(STAMP)
	$(VPY) recipes/algd/train.py $(TRAIN_ARGS)

# one pytest-xdist worker per core, at most 4; each worker's runs take cores / workers threads (tests/conftest.py)
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

test: $(STAMP)
	$(VPY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

# timing and page-fault thresholds (pytest's `perf` marker): machine-dependent, kept out of `make test`
bench: $(STAMP)
	$(VPY) -m pytest -q -m perf $(PYTEST_ARGS)

# the API reference from the docstrings (Sphinx autodoc, as TorchRL's): docs/_build/html/index.html
docs: $(STAMP)
	$(VPY) -m sphinx -W --keep-going -q -b html docs/api docs/_build/html

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache docs/_build
