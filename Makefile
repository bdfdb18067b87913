# The two set-up commands of the README: `make demo` and `make test`.
# Both build the pinned environment in .venv first when it is missing (about 10 minutes).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: env lint test test-all demo clean-demo

env:
	@P3D_VENV=$(abspath $(VENV)) tools/bootstrap_env.sh

# ruff over the whole tree (ruff.toml), before every test run.
lint: env
	$(VENV)/bin/ruff check .

# The default suite: fast tests (slow ones are marked and run by `make test-all`).
test: lint
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS) tests

test-all: lint
	$(PY) -m pytest $(PYTEST_ARGS) tests

demo: env
	$(PY) tools/run_demo.py $(DEMO_ARGS)

clean-demo:
	rm -rf work_dirs/demo data/synthetic
