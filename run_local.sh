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
  echo "Installing aifactory and its dependencies into .venv (a minute or two the first time)..."
  .venv/bin/python -m pip install --quiet -c requirements/lock.txt --upgrade pip
  .venv/bin/python -m pip install --quiet -c requirements/lock.txt \
    --build-constraint requirements/lock.txt -e .
  touch .venv/.installed
  echo "Installed into .venv."
fi

if [ -f .env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./.env
  set +a
fi

export SERVER_HOST="${SERVER_HOST:-127.0.0.1}"
export SERVER_PORT="${SERVER_PORT:-8000}"

# A taken port is one line saying so, not a bind error after start-up. `--port N` wins.
port="$SERVER_PORT"
previous=""
for arg in "$@"; do
  case "$arg" in
    --port=*) port="${arg#--port=}" ;;
    *) if [ "$previous" = "--port" ]; then port="$arg"; fi ;;
  esac
  previous="$arg"
done
probe_host="$SERVER_HOST"
case "$probe_host" in 0.0.0.0 | "::" | "[::]" | "") probe_host=127.0.0.1 ;; esac
case "$port" in
  "" | *[!0-9]*) ;; # not a number: `aifactory serve` says what is wrong with it
  *)
    if (exec 3<>"/dev/tcp/$probe_host/$port") 2>/dev/null; then
      echo "error: port $port on $SERVER_HOST is already in use (another aifactory serve?);" \
        "stop it, or pick another port: SERVER_PORT=$((port + 1)) bash run_local.sh" >&2
      exit 2
    fi
    ;;
esac

args=()
if [ "${RELOAD:-0}" = "1" ]; then
  args+=(--reload)
fi
exec .venv/bin/aifactory serve "${args[@]}" "$@"
