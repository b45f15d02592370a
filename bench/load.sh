#!/usr/bin/env bash
# The seed's load test, reproduced on this machine against the real stack: gunicorn started with
# gunicorn.conf.py (uvicorn workers, the conf's default worker count), a scratch PostgreSQL
# database on 127.0.0.1:5432 (a temporary SQLite file with --sqlite, or when PostgreSQL is not
# there), the demo agent seeded; then locust headless with loadtest/locustfile.py: 50 users
# going through the seed mix. Three phases, each on a fresh server and database: with the k6
# script's 1 s of think time per iteration (the original scenario), then without think time
# (what the server can take), then the bare twin without think time (bench/bare_routes.py, a
# FastAPI + SQLAlchemy app doing the same statements, under gunicorn with as many workers: what
# this machine gives the stack itself under the same load, in the same run). Prints req/s,
# p95, p99 and the error rate of each next to the seed's 85 req/s, p95 800 ms, p99 2 s, 0.5%,
# and how far the batch runner (which gunicorn.conf.py starts beside the workers) had got with
# the phase's batches when the load stopped: its result rows by status.
# Not part of the test suite; only 127.0.0.1 is ever addressed.
#
#   bench/load.sh [--sqlite]      DURATION=60 USERS=50 GUNICORN_WORKERS=... bench/load.sh
#   PHASES=nothink bench/load.sh  (the phases to run, of: think nothink bare bare-think)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
BIN=.venv/bin
DURATION="${DURATION:-45}"
USERS="${USERS:-50}"
SPAWN_RATE="${SPAWN_RATE:-10}"
PHASES="${PHASES:-think nothink bare}"
use_sqlite=0
[ "${1:-}" = "--sqlite" ] && use_sqlite=1
if ! [ -x "$BIN/gunicorn" ] || ! [ -x "$BIN/locust" ]; then
  echo "error: gunicorn or locust is missing; run: $PY -m pip install -e '.[deploy,load]'" >&2
  exit 2
fi

root="$(pwd)"
work="$(mktemp -d -t aifactory-load-XXXXXX)"
key="afk_load_$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')"
database_name=""
server_pid=""
backend="SQLite"
if [ "$use_sqlite" = 0 ] && command -v psql >/dev/null 2>&1 \
  && psql -h 127.0.0.1 -U postgres -d postgres -qc "SELECT 1" >/dev/null 2>&1; then
  backend="PostgreSQL"
fi

stop_process() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

stop_server() {
  stop_process
  if [ -n "$database_name" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS ${database_name} WITH (FORCE)" >/dev/null 2>&1 || true
    database_name=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# A fresh database and server for each phase, so one phase's queued batches never slow the next.
start_server() {
  local label="$1"
  if [ "$backend" = PostgreSQL ]; then
    database_name="aifactory_load_$$_${label//-/_}"
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE ${database_name}" >/dev/null
    database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/${database_name}"
  else
    database_url="sqlite+aiosqlite:///${work}/${label}.db"
  fi
  port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  # The server runs in its own directory (no .env), with only what a deployment would set.
  mkdir -p "$work/$label"
  (
    cd "$work/$label"
    exec env SERVER_HOST=127.0.0.1 SERVER_PORT="$port" DATABASE_URL="$database_url" \
      AIFACTORY_API_KEYS="$key" AIFACTORY_SEED_DEMO=1 LOG_LEVEL=WARNING \
      PROMETHEUS_MULTIPROC_DIR="$work/$label/prometheus" \
      "$root/$BIN/gunicorn" -c "$root/gunicorn.conf.py" >access.log 2>server.log
  ) &
  server_pid=$!
  wait_until_up "$label"
  # The master's children, less the batch runner it starts beside its workers.
  workers=0
  for child in $(cat /proc/"${server_pid}"/task/*/children); do
    grep -q batch-runner "/proc/${child}/cmdline" 2>/dev/null || workers=$((workers + 1))
  done
}

wait_until_up() {
  local label="$1"
  for _ in $(seq 1 120); do
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
      "http://127.0.0.1:${port}/health" 2>/dev/null; then
      break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "error: gunicorn exited before it was up:" >&2
      tail -20 "$work/$label/server.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  sleep 2  # every worker booted, not only the first to answer
}

# The bare twin (bench/bare_routes.py: FastAPI + SQLAlchemy doing the same statements, no auth,
# no batch runner) under gunicorn with as many uvicorn workers as ours had, on a database ours
# migrated and seeded: what this machine gives the stack itself under the same load.
start_bare() {
  local label="$1"
  start_server "$label"
  stop_process
  (
    cd "$work/$label"
    exec env BARE_DATABASE_URL="$database_url" "$root/$BIN/gunicorn" \
      -k uvicorn_worker.UvicornWorker -w "$workers" -b "127.0.0.1:${port}" --backlog 2048 \
      --keep-alive 5 --chdir "$root/bench" bare_routes:app >bare-access.log 2>bare-server.log
  ) &
  server_pid=$!
  wait_until_up "$label"
}

# How far the background got: the phase's result rows by status, as the load stopped.
batch_progress() {
  local label="$1" counts
  if [ "$backend" = PostgreSQL ]; then
    counts="$(psql -h 127.0.0.1 -U postgres -d "$database_name" -Atc \
      "SELECT status || ' ' || count(*) FROM results GROUP BY status ORDER BY status" | paste -sd,)"
  else
    counts="$("$PY" -c 'import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT status, count(*) FROM results GROUP BY status ORDER BY status")
print(",".join(f"{s} {n}" for s, n in rows))' "$work/${label}.db")"
  fi
  echo "$label: result rows by status when the load stopped: ${counts:-none}" >>"$work/progress.txt"
}

run_phase() {
  local label="$1" think="$2"
  case "$label" in
    bare*) start_bare "$label" ;;
    *) start_server "$label" ;;
  esac
  AIFACTORY_API_KEY="$key" AIFACTORY_LOAD_THINK_S="$think" "$BIN/locust" \
    -f loadtest/locustfile.py --host "http://127.0.0.1:${port}" --headless \
    --users "$USERS" --spawn-rate "$SPAWN_RATE" --run-time "${DURATION}s" \
    --only-summary --csv "$work/$label" --loglevel WARNING >"$work/$label.out" 2>&1 || true
  batch_progress "$label"
  stop_server
}

load_before="$(cut -d' ' -f1 /proc/loadavg)"
for phase in $PHASES; do
  case "$phase" in
    think) run_phase think 1 ;;
    nothink) run_phase nothink 0 ;;
    bare) run_phase bare 0 ;;
    bare-think) run_phase bare-think 1 ;;
    *) echo "error: unknown phase $phase (think, nothink, bare or bare-think)" >&2; exit 2 ;;
  esac
done
echo "Load test: ${USERS} users, seed mix, ${DURATION} s a phase, each on a fresh gunicorn (${workers} workers) and ${backend} database, $(nproc) cores shared with locust."
echo "Load average (1 min) before: ${load_before}, after: $(cut -d' ' -f1 /proc/loadavg) (other work on this machine shows here)."
cat "$work/progress.txt"

"$PY" - "$work" "$USERS" <<'PY'
import csv
import sys
from pathlib import Path

work, users = Path(sys.argv[1]), sys.argv[2]


def rows(label: str) -> dict[str, dict[str, str]]:
    with (work / f"{label}_stats.csv").open() as stats:
        return {row["Name"]: row for row in csv.DictReader(stats)}


def aggregated(label: str) -> dict[str, str]:
    return rows(label)["Aggregated"]


phases = [label for label in ("think", "nothink", "bare-think", "bare") if (work / f"{label}_stats.csv").exists()]
for label in phases:
    think = {
        "think": "1 s think time (the original scenario)",
        "nothink": "no think time",
        "bare": "no think time, the bare twin (bench/bare_routes.py)",
        "bare-think": "1 s think time, the bare twin (bench/bare_routes.py)",
    }[label]
    print()
    print(f"Per endpoint, {think}:")
    print(f"  {'endpoint':<34} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'fails':>6}")
    for name, row in rows(label).items():
        if name != "Aggregated":
            print(
                f"  {name:<34} {int(row['Request Count']):>9,} {float(row['50%']):>8.0f}"
                f" {float(row['95%']):>8.0f} {float(row['99%']):>8.0f}"
                f" {int(row['Failure Count']):>6}"
            )
print()
print(f"{'':<34} {'req/s':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>8} {'requests':>10}")
print(f"{'seed (original deployment)':<34} {85:>8} {800:>8} {2000:>8} {'0.5%':>8} {'':>10}")
titles = {
    "think": f"{users} users, 1 s think time",
    "nothink": f"{users} users, no think time",
    "bare": "bare twin, no think time",
    "bare-think": "bare twin, 1 s think time",
}
for label in phases:
    title = titles[label]
    row = aggregated(label)
    count, failures = int(row["Request Count"]), int(row["Failure Count"])
    rate = failures / count if count else 0.0
    print(
        f"{title:<34} {float(row['Requests/s']):>8.0f} {float(row['95%']):>8.0f}"
        f" {float(row['99%']):>8.0f} {rate:>8.2%} {count:>10,}"
    )
PY
