"""The yardstick for ``bench/api_health.py``: a bare FastAPI app with one ``/health`` route.

.venv/bin/uvicorn bare_app:app --app-dir bench --workers 2
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    """A small JSON answer, as small as a health check gets."""
    return {"status": "ok"}
