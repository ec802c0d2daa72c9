# Two entry points, each installing what it needs into .venv (CPU torch wheel first, so pip never pulls CUDA).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: install quickstart test lint bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev,quickstart]"

quickstart: install
	HF_HUB_OFFLINE=1 $(BIN)/hf-nvr quickstart --output-dir out

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check hf_nvr tests benchmarks recipes

bench: install
	$(BIN)/python benchmarks/mining.py
	$(BIN)/python benchmarks/training.py
