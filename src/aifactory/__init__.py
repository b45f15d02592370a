"""AI Factory Testing: run test suites against AI agents and know whether they still work."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
