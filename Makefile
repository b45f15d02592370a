VENV ?= .venv
PY ?= $(VENV)/bin/python
PYTHON ?= python3
export PYTHONDONTWRITEBYTECODE := 1

# Every extra the tests use: dev tools, the PostgreSQL driver, gunicorn, locust, the distributed
# queue's brokers and the embeddings model (on torch).
EXTRAS := dev,postgres,deploy,load,distributed,embeddings
# The versions every install takes (.ci/run, run_local.sh, the Dockerfile, GitHub): `make lock`
# writes it from pyproject.toml and requirements/lock.in.
LOCK := requirements/lock.txt
# `make install NEWEST=1` ignores the lock and takes the newest releases pyproject.toml's ranges
# allow (the scheduled CI job, where drift shows up).
NEWEST ?=
PIN = $(if $(NEWEST),,-c $(LOCK))
# torch is installed from here first when set (https://download.pytorch.org/whl/cpu for the CPU
# build). Unset, pip takes torch from its own configuration: a local CPU wheel in find-links on
# the machine this is built on, PyPI's (CUDA, gigabytes) build elsewhere.
TORCH_INDEX ?=
# Written by `make install`; `make check` and `make test` install first when pyproject.toml or
# the lock is newer, so `bash run_local.sh` (the runtime only) then `make test` works.
INSTALLED := $(VENV)/.installed-extras
# uv resolves the lock (universal: every platform and Python >= 3.11), from PyPI only.
UV := uv==0.13.9

# Python outside the package: the deployment's gunicorn conf, main.py (the original's
# `main:app`), validator script and locustfile.
PYPATHS := src tests bench loadtest gunicorn.conf.py main.py test_api_deployment.py

.PHONY: install check lint format typecheck layers test bench lock lock-upgrade

install:
	command -v $(PY) >/dev/null || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(PIN) --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet $(PIN) --no-deps --index-url $(TORCH_INDEX) torch)
	$(PY) -m pip install --quiet $(PIN) $(if $(NEWEST),,--build-constraint $(LOCK)) -e '.[$(EXTRAS)]'
	@mkdir -p $(VENV) && touch $(INSTALLED)

$(INSTALLED): pyproject.toml $(LOCK)
	$(MAKE) install

# Keeps the pins it can and adds what pyproject.toml or requirements/lock.in gained since. The
# lock is rewritten only when it changes, so re-running it does not make installs go again.
lock:
	command -v $(PY) >/dev/null || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet '$(UV)'
	if [ -f $(LOCK) ]; then cp $(LOCK) $(LOCK).new; fi
	$(PY) -m uv pip compile --quiet --universal --python-version 3.11 --all-extras $(UPGRADE) \
		--custom-compile-command 'make lock' pyproject.toml requirements/lock.in -o $(LOCK).new
	if cmp -s $(LOCK).new $(LOCK); then rm $(LOCK).new; else mv $(LOCK).new $(LOCK); fi

# Every pin moves to the newest release the ranges allow.
lock-upgrade:
	$(MAKE) lock UPGRADE=--upgrade

check: lint typecheck layers

# The layers of docs/architecture.md, as contracts in pyproject.toml ([tool.importlinter]).
layers: $(INSTALLED)
	$(dir $(PY))lint-imports

lint: $(INSTALLED)
	$(PY) -m ruff check $(PYPATHS)
	$(PY) -m ruff format --check $(PYPATHS)
	$(dir $(PY))hadolint Dockerfile

format:
	$(PY) -m ruff format $(PYPATHS)
	$(PY) -m ruff check --fix $(PYPATHS)

typecheck: $(INSTALLED)
	$(PY) -m mypy
	$(PY) -m mypy gunicorn.conf.py main.py test_api_deployment.py loadtest/locustfile.py

test: $(INSTALLED)
	$(PY) -m pytest --cov --cov-report=term -q --durations=30

bench:
	$(PY) bench/engine_overhead.py
