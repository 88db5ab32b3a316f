# Two commands on a fresh machine:  `make demo` (the pipeline end to end on a small default) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Data: the offline copy beside the checkout when there is one, else $TANAS_DATA_DIR, else ~/.cache/tanas-nni/datasets
# (downloaded on first use where a network is available).
SHARED_DATA := $(abspath ../shared/datasets)
export TANAS_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/MNIST),$(SHARED_DATA),)

.PHONY: setup demo test test-slow benchmark clean

$(BIN)/tanas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<81" wheel
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

setup: $(BIN)/tanas

# The pipeline end to end on a small default: dictionary, its architectures, distances, task-aware space, FUSE, retraining.
# `tanas init . --keep` writes the packaged stage configs and NNI experiments (configs/, experiments/, search_spaces/;
# not tracked) where they are missing, so your edits to them stay.
demo: setup
	$(BIN)/tanas init . --keep
	$(BIN)/tanas dictionary build configs/dictionary.yml
	$(BIN)/tanas dictionary architectures configs/dictionary.yml
	$(BIN)/tanas dictionary list
	$(BIN)/tanas distance --target quickdraw:cat-vs-rest
	$(BIN)/tanas search --config configs/demo.yml

# pytest exits 5 when it collects no test; that is not a failure of the suite.
test: setup
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf runs .pytest_cache
