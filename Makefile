# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when it is missing and installs what it needs.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sklearn-meta-installed
# Pinned so these machines take the wheels from local disk; override to taste,
# e.g. make test TORCH_SPEC="torch torchvision".
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: demo test docs docs-noplot bench install clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

DOCS_STAMP := $(VENV)/.sklearn-meta-docs-installed
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# The documentation site (Sphinx, numpydoc, sphinx-gallery) in docs/_build/html,
# warnings as errors; it runs every examples/plot_*.py (docs/conf.py says how
# CI=true lightens the gallery). docs-noplot skips running the examples.
docs: $(DOCS_STAMP)
	$(PY) -m sphinx -b html -W --keep-going docs docs/_build/html
	@echo "open docs/_build/html/index.html"

docs-noplot: $(DOCS_STAMP)
	SKLEARN_META_DOCS_PLOT=0 $(PY) -m sphinx -b html -W --keep-going docs docs/_build/html

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/finetune_overhead.py
	$(PY) benchmarks/fewshot_omniglot.py --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
