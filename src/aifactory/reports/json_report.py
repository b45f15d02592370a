"""The whole run as one JSON document, streamed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import IO, Any

from aifactory.domain.models import RunSummary, TestResult


def write_json(
    out: IO[str],
    results: Iterable[TestResult | str],
    summary: RunSummary,
    *,
    meta: dict[str, Any],
    head: Mapping[str, Any] | None = None,
) -> None:
    """Write ``{"meta", "summary", "results": [...]}`` without holding the results in memory.

    ``head`` are fields written first, at the top level (a local run's ``suite``, ``agent`` and
    ``metadata``, which make the document a baseline of the CI gate). A result may be given as
    its JSON already (:meth:`~aifactory.reports.spool.SpoolSink.json_lines`): it is written as
    it is.
    """
    out.write("{")
    for key, value in (head or {}).items():
        out.write(f"{json.dumps(key)}: {json.dumps(value, default=str)}, ")
    out.write('"meta": ')
    out.write(json.dumps(meta, default=str))
    out.write(', "summary": ')
    out.write(summary.model_dump_json())
    out.write(', "results": [')
    first = True
    for result in results:
        if not first:
            out.write(",")
        out.write("\n")
        out.write(result if isinstance(result, str) else result.model_dump_json())
        first = False
    out.write("\n]}\n")
