"""What a test needs beyond the code: an extra's modules, a program, a service.

Outside CI a missing prerequisite skips the test (or the whole module or directory, when called
at import time), printing the reason and what brings it. When ``CI`` is set it fails instead:
CI runs every test, and a green CI that skipped the PostgreSQL or browser tests proves nothing.
``make install`` installs every extra the tests use; ``.ci/run`` sets ``CI``.
"""

from __future__ import annotations

import importlib.util
import os
from typing import NoReturn

import pytest


def unavailable(missing: str, remedy: str) -> NoReturn:
    """Skip (outside CI, with the reason printed) or fail (when ``CI`` is set).

    Args:
        missing: what is missing and why, e.g. "Redis on 127.0.0.1:6379 is unreachable (...)".
        remedy: what brings it, e.g. "start it", "run `make install`".
    """
    if os.environ.get("CI"):
        pytest.fail(f"{missing}; CI must run this test: {remedy}.", pytrace=False)
    print(f"\nSkipping: {missing}.")
    pytest.skip(f"{missing}; {remedy} to run this test.", allow_module_level=True)


def require_extra(extra: str, *modules: str) -> None:
    """Skip or fail (see :func:`unavailable`) unless every module of ``extra`` is installed."""
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    if absent:
        unavailable(
            f"the {extra!r} extra is not installed (no {', '.join(absent)})",
            "run `make install`",
        )
