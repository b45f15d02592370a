"""JUnit XML as CI tools read it (checked with junitparser)."""

from __future__ import annotations

import io

from junitparser import Error, Failure, JUnitXml
from tests.unit.reports.helpers import XSS, result, sample, summarize

from aifactory.reports.junit import write_junit


def test_one_testcase_per_case_with_failures_and_errors_and_their_reasons() -> None:
    results = sample()
    results.append(result(5, "failed", output="bad \x00\x1b control chars"))
    out = io.StringIO()
    write_junit(out, results, summarize(results), suite_name="refund suite")
    xml = JUnitXml.fromstring(out.getvalue())
    (suite,) = list(xml)
    assert suite.name == "refund suite"
    assert (suite.tests, suite.failures, suite.errors) == (6, 3, 1)
    cases = {case.name: case for case in suite}
    assert len(cases) == 6
    assert cases["case 0"].is_passed
    evil = cases[f"evil {XSS}"]
    (failure,) = evil.result
    assert isinstance(failure, Failure)
    assert failure.message == "expected '30 days'"
    assert XSS in (failure.text or "")
    (error,) = cases["case 2"].result
    assert isinstance(error, Error)
    assert error.message == "agent timed out"
    assert "control chars" in (cases["case 5"].result[0].text or "")
