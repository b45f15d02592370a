"""Hostile text in the Markdown reports renders as that text and nothing else.

Each report is rendered by a real Markdown renderer (markdown-it-py with GitHub's extensions:
tables, strikethrough, autolinking of bare URLs, raw HTML passed through), and the output must
hold no link, image or tag of the author's making, no mention, issue reference or bare URL that
GitHub would link in the rendered text, while the text still reads as the original.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from tests.unit.reports.helpers import result, summarize

from aifactory.domain.compare import CaseOutcome, Comparison, RunBrief, compare_outcomes
from aifactory.domain.reflection import (
    Baseline,
    Candidate,
    Iteration,
    ReflectionCreate,
    ReflectionPublic,
)
from aifactory.reports.comparison import write_comparison_markdown
from aifactory.reports.markdown import write_markdown
from aifactory.reports.md_escape import ZERO_WIDTH_SPACE, code_fence, md_text
from aifactory.reports.reflection import write_reflection_markdown

HOSTILE = [
    "![x](http://evil.example/a.png)",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<!-- hidden --> after",
    "<https://evil.example/autolink>",
    "see https://evil.example/path?q=1#frag now",
    "www.evil.example and evil.example and main.py",
    "write to bob@evil.example",
    "cc @alice and @org/team",
    "fixes #12, GH-34 and org/repo#56",
    "``` `code` ````",
    "**bold** _it_ ~~gone~~ $x^2$ and $y$",
    "# heading\n- item\n1. one\n> quote",
    "a | b\n| c | d |",
    "&lt;b&gt; &amp; &#60;script&#62;",
    "[^1] [ref]: http://evil.example",
    "trailing backslash \\",
    ":warning: emoji",
    "C# and F# and #",
]
STRUCTURE = {
    "table", "thead", "tbody", "tr", "th", "td", "h2", "h3", "h4", "p", "strong", "em", "ul",
    "li", "blockquote", "pre", "code",
}  # fmt: skip
"""The tags the reports make themselves; nothing an author writes may add another."""

GITHUB_LINKS_IN_TEXT = [
    re.compile(r"(?<![\w`])@[A-Za-z0-9]"),  # mentions, teams
    re.compile(r"(?:^|[\s(/\w])#\d"),  # issue and pull-request references
    re.compile(r"\bGH-\d", re.IGNORECASE),
    re.compile(r"[A-Za-z]://"),  # bare URLs
    re.compile(r"\bwww\.", re.IGNORECASE),
    re.compile(r"[\w.+-]@[\w-]+\."),  # e-mail addresses
]
"""What GitHub links or notifies on in the rendered text, where backslashes are gone."""


def render(markdown: str) -> str:
    """Markdown to HTML the way a pull-request comment is rendered (GFM, linkify, raw HTML)."""
    return MarkdownIt("gfm-like").render(markdown)


class _Page(HTMLParser):
    """The tags of a page, its text, and the text of each table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.comments: list[str] = []
        self.text: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def reads_as(rendered: str) -> str:
    """What a reader sees: the zero-width spaces show as nothing."""
    return rendered.replace(ZERO_WIDTH_SPACE, "")


def assert_inert(html: str) -> _Page:
    page = parse(html)
    assert set(page.tags) <= STRUCTURE, sorted(set(page.tags) - STRUCTURE)
    assert page.comments == []
    text = "".join(page.text)
    for pattern in GITHUB_LINKS_IN_TEXT:
        assert not pattern.search(text), (pattern.pattern, text)
    return page


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_a_table_cell_renders_as_the_same_text_and_nothing_else(
    text: str,
) -> None:
    html = render(f"| name | value |\n|---|---|\n| {md_text(text)} | after |\n")
    assert "<a" not in html and "<img" not in html
    page = assert_inert(html)
    # The row is still two cells, and the first reads as the text (on one line).
    assert [reads_as(c) for c in page.cells] == ["name", "value", one_line(text), "after"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_a_heading_a_paragraph_and_a_quote_stays_text(text: str) -> None:
    for line in (
        f"## {md_text(text)} — done",
        f"*Rationale:* {md_text(text)}",
        f"> {md_text(text)}",
    ):
        html = render(line + "\n")
        assert "<a" not in html and "<img" not in html
        page = assert_inert(html)
        assert one_line(text) in reads_as("".join(page.text))


def test_the_unescaped_texts_would_have_made_links_images_html_and_pings() -> None:
    # The renderer and the probes can tell: without escaping, the same texts do harm.
    html = render("\n\n".join(HOSTILE))
    assert "<a href" in html and "<img" in html and "<script>" in html
    text = "".join(parse(html).text)
    assert any(p.search(text) for p in GITHUB_LINKS_IN_TEXT[:3])


def test_a_long_text_is_cut_before_it_is_escaped() -> None:
    cut = md_text("a.b " * 100, limit=10)
    assert reads_as(parse(render(cut)).text[0]) == "a.b a.b a…"
    assert cut.endswith("…") and not cut.endswith("\\…")


def test_a_code_fence_outlasts_every_backtick_run_in_its_text() -> None:
    change = "+Use ````four```` and ``` three.\n+[x](http://evil.example) <b>@alice</b>"
    fence = code_fence(change)
    html = render(f"{fence}diff\n{change}\n{fence}\n")
    page = parse(html)
    assert page.tags == ["pre", "code"]
    assert "".join(page.text).strip("\n") == change


# -- the three reports ---------------------------------------------------------------------------


def test_a_run_report_with_hostile_names_reasons_and_tags_stays_text() -> None:
    results = [
        result(i, "failed", name=text, feedback=HOSTILE[-1 - i], tags=(f"tag {text}",))
        for i, text in enumerate(HOSTILE)
    ]
    out = io.StringIO()
    write_markdown(out, results, summarize(results), title="suite @alice #1 <b>x</b>")
    page = assert_inert(render(out.getvalue()))
    cells = [reads_as(c) for c in page.cells]
    for i, text in enumerate(HOSTILE):
        assert one_line(text) in cells
        assert one_line(HOSTILE[-1 - i]) in cells
        assert f"tag {one_line(text)}" in cells


def test_a_comparison_with_hostile_case_and_run_names_stays_text() -> None:
    base = [CaseOutcome(name=n, repeat_index=0, status="passed", score=1.0) for n in HOSTILE]
    head = [CaseOutcome(name=n, repeat_index=0, status="failed", score=0.0) for n in HOSTILE]
    brief = {"status": "completed", "completed": len(HOSTILE)}
    comparison = Comparison(
        base=RunBrief(
            run_id="b", agent_id="bot", agent_version=1, name="@alice's run", passed=20, **brief
        ),
        head=RunBrief(run_id="h", agent_id="bot", agent_version=2, passed=0, **brief),
        **dict(compare_outcomes(base, head)),
    )
    out = io.StringIO()
    write_comparison_markdown(out, comparison)
    page = assert_inert(render(out.getvalue()))
    cells = [reads_as(c) for c in page.cells]
    for text in HOSTILE:
        assert one_line(text) in cells
    assert "@alice's run" in reads_as("".join(page.text))


def test_a_reflection_with_hostile_rationale_reason_error_and_diff_stays_text() -> None:
    candidates = [
        Candidate(
            version=n + 2,
            rationale=text,
            reason=HOSTILE[-1 - n],
            prompt_diff=f"+{text}\n",
            verdict="rejected",
        )
        for n, text in enumerate(HOSTILE[:5])
    ]
    reflection = ReflectionPublic(
        reflection_id="r-1",
        agent_id="bot",
        suite_id="faq",
        status="failed",
        stop_reason="error",
        error="the reflector said [click](http://evil.example) @alice #3",
        baseline=Baseline(version=1, train_pass_rate=0.5, train_completed=10),
        iterations=[Iteration(index=1, reference_version=1, candidates=candidates)],
        accepted_version=None,
        cost_usd=0.0,
        alpha=0.05,
        params=ReflectionCreate(suite_id="faq"),
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    out = io.StringIO()
    write_reflection_markdown(out, reflection)
    html = render(out.getvalue())
    # The diffs are code blocks: their text is shown as written, and links there stay text.
    page = parse(html)
    assert set(page.tags) <= STRUCTURE
    assert "<a" not in html and "<img" not in html
    outside_code = re.sub(r"<pre><code[^>]*>.*?</code></pre>", "", html, flags=re.DOTALL)
    assert_inert(outside_code)
    text = reads_as("".join(page.text))
    for n, text_n in enumerate(HOSTILE[:5]):
        assert one_line(text_n) in text
        assert one_line(HOSTILE[-1 - n]) in text
        assert f"+{text_n}\n" in text
    # A step's label is "#1 v2": on GitHub that would link issue #1.
    assert "#1 v2" in text and f"#{ZERO_WIDTH_SPACE}1 v2" in "".join(page.text)
