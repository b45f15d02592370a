"""Text from agents, judges and case authors, made safe to put in a Markdown report.

The Markdown reports are posted as pull-request comments, where a case name, an output or a
judge's reason must read as the text it is and do nothing else: no link, image or HTML, no
formatting, no table cell broken open, no ``@someone`` or ``#12`` that pings people or
cross-references an issue, no URL turned into a link. :func:`md_text` is the one function every
such value goes through:

- whitespace runs (newlines too) become one space, so a value stays inside its table cell or line;
- ``&``, ``<`` and ``>`` become HTML entities (no raw HTML, no entity of the author's choosing);
- every character that can start or end Markdown syntax is backslash-escaped
  (:data:`MARKDOWN_SPECIALS`), which also breaks the autolinks GitHub makes of ``https://…``,
  ``www.…`` and e-mail addresses, and its ``$…$`` math;
- a zero-width space (U+200B) goes after ``@`` and ``#`` when a name or number follows, inside
  ``://`` and after a leading ``www``: GitHub looks for mentions, issue references and bare URLs
  in the rendered text too, where backslashes are gone, and the invisible character stops it.

What a reader sees is the original text (the zero-width spaces show as nothing).
"""

from __future__ import annotations

import re

ZERO_WIDTH_SPACE = "\u200b"
MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()#+-.!|~:@/$")
"""Backslash-escaped: CommonMark's and GFM's syntax characters, and ``:``/``@``/``/`` for
autolinks and ``$`` for math. ``&<>`` become entities instead."""
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

_PINGS = re.compile(r"([@#])(?=\w)")
"""``@user``, ``@org/team``, ``#12``, ``owner/repo#12``: GitHub links or notifies on these."""
_ISSUE_PREFIX = re.compile(r"\b(GH-)(?=\d)", re.IGNORECASE)
_SCHEME = re.compile(r"(?<=\w)(?=://)")
_WWW = re.compile(r"\b(www)(?=\.)", re.IGNORECASE)


def md_text(text: str | None, limit: int | None = None) -> str:
    """``text`` as one line of Markdown that renders as that text and nothing more.

    Args:
        text: Anything an agent, a judge or a case author wrote (None reads as empty).
        limit: Longest text kept, in characters, before escaping; longer text is cut with "…".

    Returns:
        Markdown safe inside a table cell, a heading, a list item or a paragraph.
    """
    line = " ".join((text or "").split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    line = _PINGS.sub(rf"\1{ZERO_WIDTH_SPACE}", line)
    line = _ISSUE_PREFIX.sub(rf"\1{ZERO_WIDTH_SPACE}", line)
    line = _SCHEME.sub(ZERO_WIDTH_SPACE, line)
    line = _WWW.sub(rf"\1{ZERO_WIDTH_SPACE}", line)
    return "".join(
        _ENTITIES.get(ch) or (f"\\{ch}" if ch in MARKDOWN_SPECIALS else ch) for ch in line
    )


def code_fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``, so ``text`` cannot close
    the code block it is put in (inside one, Markdown, HTML, links and mentions are inert)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)
