PY ?= .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

# Python outside the package: the deployment's gunicorn conf, validator script and locustfile.
PYPATHS := src tests bench loadtest gunicorn.conf.py test_api_deployment.py

.PHONY: install check lint format typecheck test bench

install:
	$(PY) -m pip install -e '.[dev]'

check: lint typecheck

lint:
	$(PY) -m ruff check $(PYPATHS)
	$(PY) -m ruff format --check $(PYPATHS)
	$(dir $(PY))hadolint Dockerfile

format:
	$(PY) -m ruff format $(PYPATHS)
	$(PY) -m ruff check --fix $(PYPATHS)

typecheck:
	$(PY) -m mypy
	$(PY) -m mypy gunicorn.conf.py test_api_deployment.py loadtest/locustfile.py

test:
	$(PY) -m pytest --cov --cov-report=term -q

bench:
	$(PY) bench/engine_overhead.py
