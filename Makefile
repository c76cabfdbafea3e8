# The README's two commands. Both set the environment up first (idempotent: seconds when done).
#   make test                 fast suite (slow tests skipped)
#   make test PYTEST_ARGS=... extra pytest arguments, e.g. PYTEST_ARGS="-m slow" or "-k bitstream"
#   make test-all             everything, slow tests included
#   make demo                 the main job on the embedded data (about 15 CPU minutes)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: setup test test-all demo clean-venv

setup:
	@bash tools/setup/bootstrap.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -m "" $(PYTEST_ARGS)

# Generate the embedded data, evaluate the untrained model, train DICM Mask R-CNN on CPU,
# evaluate again (mAP on decoded features + real bpp), print both. DEMO_ARGS for tools/demo.py.
demo: setup
	$(PY) tools/demo.py $(DEMO_ARGS)

clean-venv:
	rm -rf $(VENV)
