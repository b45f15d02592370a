#!/usr/bin/env python3
"""Post-deploy validation of a running service, as the original deployment shipped it.

    python test_api_deployment.py https://your-app.up.railway.app --api-key afk_...

The same code as ``aifactory smoke URL``: every seed endpoint, response shapes, response times
against the original's targets, a pass/fail table, exit code 0 when everything passed and 1
otherwise. Not a pytest module (the test suite lives under ``tests/``).
"""

from __future__ import annotations

import typer

from aifactory.cli_smoke import smoke

if __name__ == "__main__":
    typer.run(smoke)
