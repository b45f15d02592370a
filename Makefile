PY ?= .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install check lint format typecheck test bench

install:
	$(PY) -m pip install -e '.[dev]'

check: lint typecheck

lint:
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench

format:
	$(PY) -m ruff format src tests bench
	$(PY) -m ruff check --fix src tests bench

typecheck:
	$(PY) -m mypy

test:
	$(PY) -m pytest --cov --cov-report=term -q

bench:
	$(PY) bench/engine_overhead.py
