"""CSV: parseable, one row per result, formulas defused."""

from __future__ import annotations

import csv
import io

import pytest
from tests.unit.reports.helpers import result

from aifactory.reports.csv import COLUMNS, safe_cell, write_csv


@pytest.mark.parametrize(
    "hostile",
    ['=HYPERLINK("x","y")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tindent", "\rcr"],
)
def test_cells_a_spreadsheet_would_run_are_quoted(hostile: str) -> None:
    r = result(1, "failed", name=hostile, output=hostile, feedback=hostile, tags=(hostile,))
    out = io.StringIO()
    write_csv(out, [r])
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 1
    for column in ("name", "output", "feedback", "tags"):
        assert rows[0][column] == "'" + hostile


def test_one_row_per_result_with_every_column() -> None:
    results = [result(i, s) for i, s in enumerate(["passed", "failed", "error"])]
    out = io.StringIO()
    write_csv(out, results)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["status"] for r in rows] == ["passed", "failed", "error"]
    assert rows[0]["passed"] == "true" and rows[1]["passed"] == "false"
    assert rows[2]["error"] == "agent timed out"
    assert float(rows[1]["score"]) == 0.25
    assert "did not contain" in rows[1]["checks"]


def test_numbers_stay_numbers_and_plain_text_is_untouched() -> None:
    assert safe_cell(-0.5) == "-0.5"
    assert safe_cell(3) == "3"
    assert safe_cell(None) == ""
    assert safe_cell("refunds within 30 days") == "refunds within 30 days"
    assert safe_cell("a=b") == "a=b"
