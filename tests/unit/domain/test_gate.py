"""The CI gate: a run against its baseline, the verdict, the deltas, and another suite refused."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.domain.baseline import RunFigures
from aifactory.domain.compare import CaseOutcome
from aifactory.domain.gate import Delta, gate
from aifactory.errors import InvalidInput


def run(
    statuses: dict[str, str],
    *,
    suite: str | None = "refunds",
    summary: dict[str, Any] | None = None,
    repeat: int = 0,
) -> RunFigures:
    return RunFigures(
        outcomes=[
            CaseOutcome(
                name=name,
                repeat_index=repeat,
                status=status,  # type: ignore[arg-type]
                score=1.0 if status == "passed" else 0.0,
            )
            for name, status in statuses.items()
        ],
        suite=suite,
        agent="bot",
        summary=summary or {},
    )


NAMES = [f"case {i}" for i in range(10)]


def test_planted_regressions_are_regressed_with_the_flips_named() -> None:
    base = run(dict.fromkeys(NAMES, "passed"))
    head = run({n: ("failed" if i < 6 else "passed") for i, n in enumerate(NAMES)})
    report = gate(base, head)
    c = report.comparison
    assert report.regressed and c.verdict == "regressed"
    assert (c.mcnemar.b, c.mcnemar.c) == (6, 0)
    assert c.mcnemar.p_value == pytest.approx(2 / 2**6)
    assert [f.name for f in c.regressions] == NAMES[:6]
    assert c.base.name == "baseline" and c.head.name == "this run"
    assert (c.base.pass_rate, c.head.pass_rate) == (1.0, 0.4)
    assert c.base.pass_rate_ci is not None and c.head.pass_rate_ci is not None


def test_improvements_are_improved_and_not_a_regression() -> None:
    base = run({n: ("error" if i < 7 else "passed") for i, n in enumerate(NAMES)})
    head = run(dict.fromkeys(NAMES, "passed"))
    report = gate(base, head)
    assert report.comparison.verdict == "improved" and not report.regressed
    assert len(report.comparison.improvements) == 7


def test_one_flip_is_no_significant_change() -> None:
    base = run(dict.fromkeys(NAMES, "passed"))
    head = run({n: ("failed" if i == 0 else "passed") for i, n in enumerate(NAMES)})
    assert gate(base, head).comparison.verdict == "no significant change"


def test_new_and_dropped_cases_of_the_same_suite_are_listed_not_compared() -> None:
    base = run({"a": "passed", "b": "passed", "old": "passed"})
    head = run({"a": "passed", "b": "failed", "new": "failed"})
    c = gate(base, head).comparison
    assert c.pairs == 2
    assert [k.name for k in c.only_in_head] == ["new"]
    assert [k.name for k in c.only_in_base] == ["old"]


def test_another_suite_is_refused_naming_the_cases_that_do_not_pair() -> None:
    base = run({"a": "passed", "b": "passed", "shared": "passed"}, suite="refunds")
    head = run({"x": "passed", "shared": "passed"}, suite="billing")
    with pytest.raises(InvalidInput) as caught:
        gate(base, head)
    message = str(caught.value)
    assert "another suite ('refunds'; this run's is 'billing')" in message
    assert "2 of its cases do not pair: 'a', 'b'" in message
    assert "1 of this run's have no partner in it: 'x'" in message
    assert caught.value.details == {
        "only_in_base": [{"name": "a", "repeat_index": 0}, {"name": "b", "repeat_index": 0}],
        "only_in_head": [{"name": "x", "repeat_index": 0}],
    }


def test_a_renamed_suite_whose_cases_all_pair_is_compared() -> None:
    base = run(dict.fromkeys(NAMES, "passed"), suite="old name")
    head = run(dict.fromkeys(NAMES, "passed"), suite="new name")
    assert gate(base, head).comparison.pairs == 10


def test_nothing_in_common_is_another_suite_even_without_names() -> None:
    with pytest.raises(InvalidInput, match="none of its cases pairs"):
        gate(run({"a": "passed"}, suite=None), run({"b": "passed"}, suite=None))
    with pytest.raises(InvalidInput, match="The baseline has no finished cases"):
        gate(run({}, suite=None), run({"b": "passed"}, suite=None))


def test_many_unpaired_names_are_cut_with_a_count() -> None:
    base = run({f"b{i}": "passed" for i in range(30)}, suite="one")
    head = run({f"h{i}": "passed" for i in range(3)}, suite="two")
    with pytest.raises(InvalidInput, match=r"30 of its cases do not pair: .*'b19' and 10 more"):
        gate(base, head)


def test_repeats_pair_by_index() -> None:
    base = run({"a": "passed"}, repeat=0)
    head = run({"a": "passed"}, repeat=1)
    with pytest.raises(InvalidInput, match=r"'a' \(repeat 1\)"):
        gate(base, head)


def test_cost_and_latency_deltas_come_from_the_summaries() -> None:
    base = run(
        {"a": "passed"}, summary={"cost_usd": 0.10, "latency_ms": {"p50": 100.0, "p95": 400}}
    )
    head = run({"a": "passed"}, summary={"cost_usd": 0.15, "latency_ms": {"p50": 80.0}})
    report = gate(base, head)
    assert report.cost_usd.change == pytest.approx(0.05)
    assert report.cost_usd.relative == pytest.approx(0.5)
    assert report.latency_p50_ms.change == pytest.approx(-20.0)
    assert report.latency_p95_ms == Delta(400.0, None)
    assert report.latency_p95_ms.change is None and report.latency_p95_ms.relative is None
    assert Delta(0.0, 1.0).relative is None and Delta(0.0, 1.0).change == 1.0
