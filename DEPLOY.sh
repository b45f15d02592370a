#!/usr/bin/env bash
# Deploy to Railway: prerequisites, tests, a local image build (where a Docker engine runs),
# push, `railway up`, then post-deploy validation with `aifactory smoke`.
#
#   ./DEPLOY.sh ENV [--dry-run] [--skip-tests]
#
# ENV is the Railway environment (staging, production, ...). --dry-run prints every step and
# runs none of the remote ones (nor the slow local ones): nothing is built, pushed or deployed.
#
# Environment:
#   DEPLOY_URL          public base URL of the service, for the post-deploy validation
#   AIFACTORY_API_KEY   an API key of that deployment, for the validation
#   RAILWAY_SERVICE     the Railway service name (default: the linked one)
#   IMAGE_REGISTRY      push the built image there too (e.g. ghcr.io/you); unset: no push,
#                       Railway builds the Dockerfile itself
#   AIFACTORY_BIN       the aifactory command (default: .venv/bin/aifactory, else aifactory)
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  echo "usage: $0 ENV [--dry-run] [--skip-tests]   (ENV: staging, production, ...)" >&2
  exit 2
}

env_name=""
dry_run=0
skip_tests=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --skip-tests) skip_tests=1 ;;
    -h|--help) usage ;;
    -*) echo "error: unknown option $arg" >&2; usage ;;
    *) [ -z "$env_name" ] || usage; env_name="$arg" ;;
  esac
done
[ -n "$env_name" ] || usage
if ! [[ "$env_name" =~ ^[a-z0-9][a-z0-9_-]*$ ]]; then
  echo "error: the environment name '$env_name' must be lower-case letters, digits, - or _." >&2
  exit 2
fi

if [ -z "${AIFACTORY_BIN:-}" ]; then
  if [ -x .venv/bin/aifactory ]; then AIFACTORY_BIN=.venv/bin/aifactory; else AIFACTORY_BIN=aifactory; fi
fi
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
image="aifactory:${env_name}-${revision}"
step_no=0

step() {
  step_no=$((step_no + 1))
  printf '\n==> %d. %s\n' "$step_no" "$*"
}

# Run a command, or only print it under --dry-run.
run() {
  if [ "$dry_run" = 1 ]; then
    printf '    [dry-run] would run: %s\n' "$*"
  else
    printf '    $ %s\n' "$*"
    "$@"
  fi
}

skip() {
  printf '    skipped: %s\n' "$*"
}

need() {
  if command -v "$1" >/dev/null 2>&1; then
    printf '    found %s\n' "$1"
  elif [ "$dry_run" = 1 ]; then
    printf '    missing %s (%s); a real deploy would stop here\n' "$1" "$2"
  else
    echo "error: $1 is not installed: $2" >&2
    exit 1
  fi
}

echo "Deploying revision $revision to the Railway environment '$env_name'$([ "$dry_run" = 1 ] && echo ' (dry run: nothing remote runs)')."

step "Prerequisites"
need git "install git"
need railway "install the Railway CLI (npm i -g @railway/cli) and run 'railway login' and 'railway link'"
need "$AIFACTORY_BIN" "run ./run_local.sh once, or pip install -e ., to get the aifactory command"
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  printf '    note: the work tree has uncommitted changes; railway up uploads them as they are\n'
fi
# The server refuses to start without these (one line in the deploy logs), and Railway then keeps
# the previous deployment: docs/deploy/railway.md.
printf '    note: the Railway service needs AIFACTORY_SESSION_SECRET (openssl rand -hex 32) and, if set, AIFACTORY_API_KEYS of 32+ characters each\n'

step "Tests: make check and make test"
if [ "$skip_tests" = 1 ]; then
  skip "--skip-tests"
else
  run make check
  run make test
fi

step "Build the image $image"
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  run docker build --tag "$image" .
  built=1
else
  skip "no Docker engine reachable here; Railway builds the Dockerfile itself"
  built=0
fi

step "Push the image"
if [ -z "${IMAGE_REGISTRY:-}" ]; then
  skip "IMAGE_REGISTRY is not set; railway up uploads the source and Railway builds it"
elif [ "$built" = 0 ]; then
  skip "no image was built here"
else
  run docker tag "$image" "${IMAGE_REGISTRY}/${image}"
  run docker push "${IMAGE_REGISTRY}/${image}"
fi

step "Deploy: railway up"
# --ci streams the build logs and returns when the build is done (Railway then health-checks
# /health before it switches traffic to the new deployment).
railway_args=(up --ci --environment "$env_name")
if [ -n "${RAILWAY_SERVICE:-}" ]; then
  railway_args+=(--service "$RAILWAY_SERVICE")
fi
run railway "${railway_args[@]}"

step "Post-deploy validation: aifactory smoke"
if [ -z "${DEPLOY_URL:-}" ]; then
  if [ "$dry_run" = 1 ]; then
    printf '    DEPLOY_URL is not set; a real deploy would stop here\n'
    run "$AIFACTORY_BIN" smoke '$DEPLOY_URL'
  else
    echo "error: set DEPLOY_URL to the service's public URL to validate the deployment." >&2
    exit 1
  fi
else
  if [ "$dry_run" = 0 ]; then
    # The new deployment takes traffic once Railway's own health check passed; wait for it.
    printf '    waiting for %s/health ' "$DEPLOY_URL"
    for _ in $(seq 1 60); do
      if python3 - "$DEPLOY_URL" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/health", timeout=5)
PY
      then break; fi
      printf '.'
      sleep 5
    done
    printf '\n'
  fi
  # The key travels in AIFACTORY_API_KEY, never on a command line that gets printed.
  [ -n "${AIFACTORY_API_KEY:-}" ] || printf '    note: AIFACTORY_API_KEY is not set; the /api/v1 checks will fail with 401\n'
  export AIFACTORY_API_KEY="${AIFACTORY_API_KEY:-}"
  run "$AIFACTORY_BIN" smoke "$DEPLOY_URL"
fi

printf '\nDone%s.\n' "$([ "$dry_run" = 1 ] && echo ' (dry run)')"
