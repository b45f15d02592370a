"""Results and summaries for the renderer tests, and an HTML structure probe."""

from __future__ import annotations

from html.parser import HTMLParser

from aifactory.domain.models import CheckResult, TestCase, TestResult, Usage
from aifactory.engine.summary import SummaryBuilder

XSS = "<script>alert(1)</script>"


def result(
    index: int,
    status: str,
    *,
    name: str | None = None,
    output: str = "ok",
    tags: tuple[str, ...] = ("billing",),
    feedback: str = "",
    score: float | None = None,
) -> TestResult:
    passed = status == "passed"
    return TestResult(
        id=f"r{index}",
        run_id="run-1",
        agent_id="bot",
        agent_version=1,
        case_index=index,
        test_case=TestCase(
            name=name or f"case {index}", input=f"question {index}", tags=list(tags)
        ),
        status=status,
        passed=passed,
        score=score if score is not None else (1.0 if passed else 0.25),
        output=output,
        feedback=feedback or ("" if passed else "expected '30 days'"),
        checks=[
            CheckResult(
                type="contains",
                status=status,
                passed=passed,
                score=1.0 if passed else 0.0,
                reason="found it" if passed else "did not contain '30 days'",
            )
        ],
        latency_ms=100.0 + index,
        usage=Usage(input_tokens=10, output_tokens=5, cost_usd=0.001),
        error="agent timed out" if status == "error" else None,
    )


def sample() -> list[TestResult]:
    return [
        result(0, "passed"),
        result(1, "failed", name=f"evil {XSS}", output=f"I say {XSS} & more"),
        result(2, "error", tags=("shipping",), output=""),
        result(3, "passed", tags=("shipping",)),
        result(4, "failed", tags=()),
    ]


def summarize(results: list[TestResult]):  # type: ignore[no-untyped-def]
    builder = SummaryBuilder(len(results))
    for r in results:
        builder.add(r)
    return builder.build()


class Probe(HTMLParser):
    """Collects elements, attributes, script bodies and text of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)
        else:
            self.text.append(data)

    def count(self, tag: str, **attrs: str) -> int:
        return sum(
            1
            for t, a in self.tags
            if t == tag and all(v in (a.get(k) or "").split() for k, v in attrs.items())
        )


def probe(document: str) -> Probe:
    parser = Probe()
    parser.feed(document)
    parser.close()
    return parser
