#!/usr/bin/env bash
# Run the service on this machine: a virtual environment, the project installed into it,
# settings from .env when present, and `aifactory serve` on SQLite with in-process workers.
# A demo agent and suite are seeded on first start; no LLM provider key is needed.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# The runtime at the locked versions (requirements/lock.txt); `make test` adds the test extras.
if ! .venv/bin/python -c "import aifactory" >/dev/null 2>&1 || [ pyproject.toml -nt .venv/.installed ] \
  || [ requirements/lock.txt -nt .venv/.installed ]; then
  .venv/bin/python -m pip install --quiet -c requirements/lock.txt --upgrade pip
  .venv/bin/python -m pip install --quiet -c requirements/lock.txt \
    --build-constraint requirements/lock.txt -e .
  touch .venv/.installed
fi

if [ -f .env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./.env
  set +a
fi

export SERVER_HOST="${SERVER_HOST:-127.0.0.1}"
export SERVER_PORT="${SERVER_PORT:-8000}"
args=()
if [ "${RELOAD:-0}" = "1" ]; then
  args+=(--reload)
fi
exec .venv/bin/aifactory serve "${args[@]}" "$@"
