# Two commands do all set-up on a fresh machine:
#   make quickstart   -> the main job, offline, on the embedded tiny default
#   make test         -> the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: setup quickstart quickstart-check demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU wheel of torch 2.13.0 first: a looser spec could pull a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[all,deepspeed]"
	touch $(STAMP)

setup: $(STAMP)

quickstart: $(STAMP)
	$(OFFLINE) $(BIN)/mme5 quickstart

# the full quickstart once more, failing unless the learning criterion holds (CI runs it)
quickstart-check: $(STAMP)
	$(OFFLINE) $(BIN)/mme5 quickstart --check

demo: $(STAMP)
	$(OFFLINE) $(BIN)/mme5 demo

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# ruff (lint + format) and mypy on src/, as CI runs them
lint: $(STAMP)
	$(BIN)/ruff check src
	$(BIN)/ruff format --check src
	$(BIN)/mypy

clean:
	rm -rf $(VENV)
