"""The JSON report: the spool's lines are copied as they are, and say what the results say."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable

from tests.unit.reports.helpers import XSS, sample, summarize

from aifactory.domain.models import TestResult
from aifactory.reports.json_report import write_json
from aifactory.reports.spool import SpoolSink


def _report(results: Iterable[TestResult | str]) -> str:
    out = io.StringIO()
    write_json(
        out,
        results,
        summarize(sample()),
        meta={"suite": "s"},
        head={"suite": "s", "metadata": {"branch": "main"}},
    )
    return out.getvalue()


async def test_the_spools_lines_make_the_same_document_as_its_results() -> None:
    sink = SpoolSink()
    try:
        for r in sample():
            await sink.write(r)
        lines = list(sink.json_lines())
        assert len(lines) == 5
        assert all("\n" not in line for line in lines)
        copied = _report(lines)
        assert copied == _report(sink.results())
    finally:
        sink.close()
    document = json.loads(copied)
    assert document["suite"] == "s"
    assert document["metadata"] == {"branch": "main"}
    assert [r["status"] for r in document["results"]] == [r.status for r in sample()]
    assert document["results"][1]["output"] == f"I say {XSS} & more"
