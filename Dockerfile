# syntax=docker/dockerfile:1
# The production image: gunicorn with uvicorn workers (gunicorn.conf.py), the PostgreSQL driver
# and the distributed queue's brokers (the same image runs `aifactory worker`), a non-root user. Build: docker build -t aifactory .   Run: docker run -p 8000:8000 aifactory
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
    AIFACTORY_CACHE_DIR=/tmp/aifactory-cache
# SERVER_PORT is left unset on purpose: gunicorn.conf.py then listens on the PORT that Railway
# (or Heroku) injects, and on 8000 when there is none.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /wheels /wheels
# Exactly the wheels the builder made (the project and its extras), no package index.
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels
COPY --chown=app:app gunicorn.conf.py ./
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('SERVER_PORT') or os.environ.get('PORT') or '8000'; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]
# The gunicorn master migrates the database (on_starting) before it forks any worker.
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
