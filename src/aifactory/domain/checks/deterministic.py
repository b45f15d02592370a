"""The deterministic checks: importing this module registers every one of them.

Each concept lives in its own module; this one gathers them for the registry:

- :mod:`.text`: ``equals``, ``contains``, ``icontains``, ``not_contains``, ``starts_with``,
  ``ends_with``, ``contains_any``, ``contains_all``, ``regex``, ``length``;
- :mod:`.structured`: ``json_valid``, ``json_schema``, ``json_path``;
- :mod:`.similarity`: ``similarity``, ``semantic_similarity``;
- :mod:`.operational`: ``latency``, ``cost``, ``tool_called``;
- :mod:`.python_check`: ``python`` (command line only).
"""

from __future__ import annotations

from aifactory.domain.checks import operational, python_check, similarity, structured, text

__all__ = ["operational", "python_check", "similarity", "structured", "text"]
