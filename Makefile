# Two commands do all set-up on a fresh machine:
#   make quickstart   -> the main job, offline, on the embedded tiny default
#   make test         -> the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: setup quickstart quickstart-check demo test lint bench-smoke clean

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

# every benchmark at its smallest size (minutes, not a CI step): a regression shows in one command;
# figures go to $(SMOKE), not benchmarks/results
SMOKE ?= /tmp/mme5-bench-smoke
BENCH := $(OFFLINE) $(BIN)/python benchmarks
bench-smoke: $(STAMP)
	mkdir -p $(SMOKE)
	$(BENCH)/encode.py --items 24 --repeats 1 --out $(SMOKE)/encode.json
	$(BENCH)/eval.py --p2-queries 10 --p2-candidates 10 --p2-pool 20 --p3-pools 1000 --repeats 1 --out $(SMOKE)/eval.json
	$(BENCH)/corpus_ranking.py --queries 50 --corpus 5000 --dim 128 --baseline-queries 10 --repeats 1 > $(SMOKE)/corpus_ranking.json
	$(BENCH)/gradcache.py --batches 8 16 --plain-max 16 --repeats 1 --out $(SMOKE)/gradcache.json
	$(BENCH)/peers.py --items 8 --repeats 1 --out $(SMOKE)/peers.json
	$(BENCH)/video_encode.py --items 4 --file-frames 8 --repeats 1 --out $(SMOKE)/video_encode.json
	$(BENCH)/serving.py --repeats 1 --requests 16 --concurrency 1 8 --time-cap 10 --models default --mixes mixed --out $(SMOKE)/serving.json
	$(BENCH)/synthesis.py --latency 0.05 --repeats 1 --levels 1,4 --rounds 8 --out $(SMOKE)/synthesis.json
	$(BENCH)/scale.py --part ann --vectors 20000 --dim 64 --repeats 1 --out $(SMOKE)/scale_ann.json
	$(BENCH)/scale.py --part engine --items 200 --shard-size 100 --repeats 1 --out $(SMOKE)/scale_engine.json
	$(BENCH)/compact.py --vectors 20000 --dim 64 --queries 100 --repeats 1 --out $(SMOKE)/compact.json
	$(BENCH)/rerank.py --pairs 8 --repeats 1 --out $(SMOKE)/rerank.json
	$(BENCH)/gpu_fullsize.py --smoke --out $(SMOKE)/gpu_fullsize.json
	$(BENCH)/quickstart.py --runs 1 --repeats 1 --steps-per-repeat 2 --extra=--steps=20 --out $(SMOKE)/quickstart.json
	@echo "bench-smoke: every benchmark ran; figures in $(SMOKE)"

clean:
	rm -rf $(VENV)
