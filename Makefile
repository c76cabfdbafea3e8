# The README's two commands. Both set the environment up first (idempotent: seconds when done).
#   make test                 fast suite (slow tests skipped)
#   make test PYTEST_ARGS=... extra pytest arguments, e.g. PYTEST_ARGS="-m slow" or "-k bitstream"
#   make test-all             everything, slow tests included
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test test-all demo clean-venv

setup:
	@bash tools/setup/bootstrap.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -m "" $(PYTEST_ARGS)

demo:
	@echo "make demo: not built yet. The demo (train DICM Mask R-CNN on the embedded dataset on CPU," >&2
	@echo "evaluate mAP and real bpp) is delivered by the training-integration issue. Nothing was run." >&2
	@exit 2

clean-venv:
	rm -rf $(VENV)
