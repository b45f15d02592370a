#!/usr/bin/env python3
"""Post-deploy validation of a running service, as the original deployment shipped it.

    AIFACTORY_API_KEY=afk_... python test_api_deployment.py https://your-app.up.railway.app

The same code as ``aifactory smoke URL``: every seed endpoint, response shapes, response times
against the original's promises (50 ms for /health, 20 ms for /ping, 100 ms to accept a batch,
30 s for a single run, 800 ms for anything else; ``--help`` lists the flags that change them), a
pass/fail table, exit code 0 when everything passed and 1 otherwise. The key is read from
``AIFACTORY_API_KEY`` (or ``--api-key``). Not a pytest module (the tests live under ``tests/``).
"""

from __future__ import annotations

import typer

from aifactory.cli.smoke import smoke

if __name__ == "__main__":
    typer.run(smoke)
