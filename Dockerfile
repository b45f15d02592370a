# syntax=docker/dockerfile:1
# The production image: gunicorn with uvicorn workers (gunicorn.conf.py), the PostgreSQL driver
# and the distributed queue's brokers (the same image runs `aifactory worker`), a non-root user.
#
#   docker build -t aifactory .
#   docker run -p 8000:8000 -e AIFACTORY_SESSION_SECRET="$(openssl rand -hex 32)" aifactory
#
# With no DATABASE_URL (or SUPABASE_DB_URL) the service keeps a SQLite file in /app/data, the one
# directory the app user may write (add `-v aifactory-data:/app/data` to keep it); the first admin
# API key is printed in the log. A server listening beyond loopback needs the session secret.
#
# Stage 1 builds wheels for the project and every dependency; stage 2 installs only those
# wheels into a slim image, so no compiler, cache or source tree ships.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY requirements/lock.txt ./requirements/
COPY src ./src
# The locked versions (requirements/lock.txt), so an image built on another day is the same.
RUN pip install --no-cache-dir -c requirements/lock.txt --upgrade pip \
    && pip wheel --no-cache-dir -c requirements/lock.txt --build-constraint requirements/lock.txt \
        --wheel-dir /wheels ".[postgres,deploy,distributed]"

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SERVER_HOST=0.0.0.0 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/aifactory-metrics \
    AIFACTORY_CACHE_DIR=/tmp/aifactory-cache \
    AIFACTORY_DATA_DIR=/app/data
# DATABASE_URL is left unset on purpose: SUPABASE_DB_URL alone then selects the database, and
# with neither the SQLite file goes to AIFACTORY_DATA_DIR (made below, owned by the app user).
# SERVER_PORT is left unset on purpose: gunicorn.conf.py then listens on the PORT that Railway
# (or Heroku) injects, and on 8000 when there is none.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0750 /app/data
WORKDIR /app
COPY --from=builder /wheels /wheels
# Exactly the wheels the builder made (the project and its extras), no package index.
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels
# Owned by root: the app user may write /app/data and nothing else of /app.
COPY gunicorn.conf.py main.py ./
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('SERVER_PORT') or os.environ.get('PORT') or '8000'; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]
# The gunicorn master provisions the database (on_starting) before it forks any worker. The
# original's `gunicorn main:app -c gunicorn.conf.py` works too (main.py is copied above).
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
