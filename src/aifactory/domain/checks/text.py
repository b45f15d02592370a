"""Checks on the output as plain text: equality, substrings, patterns and length.

These run on every case of every run, so each factory does its work up front (lower-casing,
compiling) and the returned check only compares.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import regex
from pydantic import BeforeValidator, Field

from aifactory.domain.checks.base import Check, CheckContext, Outcome, check
from aifactory.domain.models import AgentReply, TestCase
from aifactory.errors import CheckError, CheckSpecError

_PREVIEW = 60
# A catastrophic pattern is first tried on the event loop for this long; only a pattern that
# needs more moves to a thread, so the common case pays no thread hop and a slow one never
# blocks the loop for more than this.
_INLINE_BUDGET_S = 0.02
_FLAG_BITS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL}


def _scalar_to_text(value: Any) -> Any:
    # Suite files say `value: 30` as often as `value: "30"`; both mean the text "30".
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_to_text)]
"""A string parameter that also accepts a number written without quotes."""

TextList = Annotated[list[Text], Field(min_length=1)]
Count = Annotated[int, Field(ge=0)]


def preview(text: str, limit: int = _PREVIEW) -> str:
    """``text`` quoted and cut to ``limit`` characters, for reasons."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} chars)"


def _verdict(passed: bool, reason: str) -> Outcome:
    return Outcome(score=1.0 if passed else 0.0, passed=passed, reason=reason)


@check("equals")
def equals(value: Text, ignore_case: bool = False) -> Check:
    """Output equals ``value`` (surrounding whitespace ignored)."""
    want = value.strip().casefold() if ignore_case else value.strip()

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        got = reply.output.strip()
        if ignore_case:
            got = got.casefold()
        if got == want:
            return _verdict(True, f"output equals {preview(value)}")
        return _verdict(False, f"output {preview(reply.output.strip())} is not {preview(value)}")

    return run


def _substring(value: str, *, ignore_case: bool) -> Check:
    needle = value.casefold() if ignore_case else value
    label = preview(value)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        haystack = reply.output.casefold() if ignore_case else reply.output
        at = haystack.find(needle)
        if at >= 0:
            return _verdict(True, f"output contains {label} at {at}")
        return _verdict(False, f"output does not contain {label}")

    return run


@check("contains")
def contains(value: Text) -> Check:
    """Output contains ``value`` (case-sensitive)."""
    return _substring(value, ignore_case=False)


@check("icontains")
def icontains(value: Text) -> Check:
    """Output contains ``value``, ignoring case."""
    return _substring(value, ignore_case=True)


@check("not_contains")
def not_contains(value: Text) -> Check:
    """Output does not contain ``value`` (case-sensitive)."""
    inner = _substring(value, ignore_case=False)
    label = preview(value)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        found = await inner(reply, case, ctx)
        if found.passed:
            return _verdict(False, found.reason)
        return _verdict(True, f"output does not contain {label}")

    return run


@check("starts_with")
def starts_with(value: Text) -> Check:
    """Output starts with ``value`` (leading whitespace ignored)."""
    label = preview(value)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        if reply.output.lstrip().startswith(value):
            return _verdict(True, f"output starts with {label}")
        return _verdict(
            False, f"output starts with {preview(reply.output.lstrip(), 30)}, not {label}"
        )

    return run


@check("ends_with")
def ends_with(value: Text) -> Check:
    """Output ends with ``value`` (trailing whitespace ignored)."""
    label = preview(value)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        if reply.output.rstrip().endswith(value):
            return _verdict(True, f"output ends with {label}")
        return _verdict(False, f"output does not end with {label}")

    return run


def _present(values: list[str], output: str, *, ignore_case: bool) -> list[bool]:
    haystack = output.casefold() if ignore_case else output
    return [v in haystack for v in values]


@check("contains_any")
def contains_any(values: TextList, ignore_case: bool = False) -> Check:
    """Output contains at least one of ``values``."""
    needles = [v.casefold() for v in values] if ignore_case else list(values)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        found = _present(needles, reply.output, ignore_case=ignore_case)
        for value, hit in zip(values, found, strict=True):
            if hit:
                return _verdict(True, f"output contains {preview(value)}")
        return _verdict(False, f"output contains none of {', '.join(map(preview, values))}")

    return run


@check("contains_all")
def contains_all(values: TextList, ignore_case: bool = False) -> Check:
    """Output contains every one of ``values``; the score is the share found."""
    needles = [v.casefold() for v in values] if ignore_case else list(values)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        found = _present(needles, reply.output, ignore_case=ignore_case)
        missing = [v for v, hit in zip(values, found, strict=True) if not hit]
        score = (len(values) - len(missing)) / len(values)
        if not missing:
            return Outcome(score=1.0, passed=True, reason=f"output contains all {len(values)}")
        return Outcome(
            score=score,
            passed=False,
            reason=f"output is missing {', '.join(map(preview, missing))}",
        )

    return run


def compile_pattern(pattern: str, flags: str = "") -> regex.Pattern[str]:
    """Compile ``pattern`` with ``flags`` letters from ``"ims"``.

    Raises:
        CheckSpecError: the flags or the pattern are not valid.
    """
    bits = 0
    for letter in flags:
        if letter not in _FLAG_BITS:
            raise CheckSpecError(
                f"Regex flag {letter!r} is not known; use letters from 'ims' "
                "(i: ignore case, m: multiline, s: dot matches newline).",
                field="flags",
            )
        bits |= _FLAG_BITS[letter]
    try:
        return regex.compile(pattern, bits)
    except regex.error as exc:
        raise CheckSpecError(
            f"Regex {pattern!r} does not compile: {exc}. Fix the pattern.", field="pattern"
        ) from exc


async def search(
    compiled: regex.Pattern[str], text: str, timeout_s: float
) -> regex.Match[str] | None:
    """``compiled.search(text)`` that gives up after ``timeout_s`` seconds.

    Raises:
        CheckError: the search ran past its time limit (catastrophic backtracking).
    """
    started = time.monotonic()
    try:
        return compiled.search(text, timeout=min(timeout_s, _INLINE_BUDGET_S))
    except TimeoutError:
        pass
    remaining = timeout_s - (time.monotonic() - started)
    try:
        if remaining > 0:
            return await asyncio.to_thread(
                compiled.search, text, concurrent=True, timeout=remaining
            )
    except TimeoutError:
        pass
    raise CheckError(
        f"Regex {preview(compiled.pattern)} ran past its time limit of {timeout_s:g} s on "
        f"{len(text)} characters; simplify the pattern (nested repetition such as '(a+)+' "
        "backtracks catastrophically)."
    )


@check("regex")
def regex_check(pattern: str, flags: str = "") -> Check:
    """Output matches ``pattern`` somewhere (flags: letters from ``ims``)."""
    compiled = compile_pattern(pattern, flags)
    label = preview(pattern)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        found = await search(compiled, reply.output, ctx.regex_timeout_s)
        if found is None:
            return _verdict(False, f"output does not match {label}")
        return Outcome(
            score=1.0,
            passed=True,
            reason=f"matched {preview(found.group(0), 40)} at {found.start()}",
            details={"match": found.group(0)[:200], "start": found.start()},
        )

    return run


@check("length")
def length(
    min: Count | None = None,  # the public names shadow builtins; the body uses low, high
    max: Count | None = None,
) -> Check:
    """Output length in characters is within ``min`` and ``max`` (inclusive)."""
    low, high = min, max
    if low is None and high is None:
        raise CheckSpecError("Check 'length' needs 'min', 'max' or both.", field="min")
    if low is not None and high is not None and low > high:
        raise CheckSpecError(f"Check 'length': 'min' ({low}) is above 'max' ({high}).", field="min")

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        n = len(reply.output)
        if low is not None and n < low:
            return _verdict(False, f"output has {n} characters, fewer than {low}")
        if high is not None and n > high:
            return _verdict(False, f"output has {n} characters, more than {high}")
        return _verdict(True, f"output has {n} characters")

    return run
