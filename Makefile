# The two set-up commands of the README: `make demo` and `make test`.
# Both build the pinned environment in .venv first when it is missing (about 10 minutes).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: env lint test test-all demo clean-demo gpu-kit gpu-rehearsal check-upstream

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

# mmaction2's (and mmdet's) own tests in this environment, every failure sorted by kind
# (docs/using_parts_in_mmaction2.md): make check-upstream MMACTION2=checkout [MMDET=checkout]
check-upstream: env
	PYTHON=$(PY) tools/check_upstream.sh $(MMACTION2) $(MMDET)

demo: env
	$(PY) tools/run_demo.py $(DEMO_ARGS)

clean-demo:
	rm -rf work_dirs/demo data/synthetic

# The offline kit for a GPU machine whose image's packages IMAGE lists
# (tools/device/build_gpu_kit.py; docs/get_started.md).
KIT ?= .gpu_kit
IMAGE ?= tools/device/example_image_packages.txt
gpu-kit: env
	$(PY) tools/device/build_gpu_kit.py --image $(IMAGE) --out $(KIT)

# The device check rehearsed on CPU from the kit alone, under a Python of the image's version
# (found, or REHEARSAL_PYTHON=...); writes docs/gpu_rehearsal.json (tools/device/rehearse.sh).
gpu-rehearsal: gpu-kit
	KIT=$(KIT) REHEARSAL_PYTHON=$(REHEARSAL_PYTHON) tools/device/rehearse.sh
