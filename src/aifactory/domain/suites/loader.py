"""The entry points: parse, load, stream and dump suite files."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml

from aifactory.domain.models import TestCase
from aifactory.domain.suites.cases import collect_cases, finish_suite
from aifactory.domain.suites.csv_format import csv_cases
from aifactory.domain.suites.model import DEFAULT_MAX_BYTES, Suite, SuiteDefaults
from aifactory.domain.suites.native import jsonl_cases, native_suite
from aifactory.domain.suites.promptfoo import promptfoo_suite
from aifactory.domain.suites.reading import (
    UTF8_MESSAGE,
    Context,
    check_extension,
    decode,
    load_json,
    load_yaml,
    read_file,
    stream_lines,
)


def parse_suite(
    data: bytes | str,
    *,
    filename: str,
    allow_file_refs: bool = True,
    base_dir: Path | None = None,
    validate_checks: bool = True,
    allow_python: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Suite:
    """Read a suite from the contents of a file.

    Args:
        data: The file's contents; bytes must be UTF-8.
        filename: Names the file in errors and chooses the format by its extension.
        allow_file_refs: Resolve promptfoo ``file://`` references (never over the API).
        base_dir: The directory ``file://`` references are relative to.
        validate_checks: Build every check with the registry so a bad one fails here.
        allow_python: Whether ``python`` checks are allowed (command line only).
        max_bytes: Largest file accepted.

    Raises:
        SuiteError: The file cannot be read; the error names the file, case and field.
    """
    ctx = Context(filename, validate_checks, allow_python, allow_file_refs, base_dir, max_bytes)
    ext = check_extension(filename, ctx)
    text = decode(data, ctx)
    stem = Path(filename).stem or "suite"
    if ext == ".jsonl":
        cases = collect_cases(jsonl_cases(enumerate(text.splitlines(), 1), ctx), ctx)
        return finish_suite(stem, None, SuiteDefaults(), cases, ctx)
    if ext == ".csv":
        cases = collect_cases(csv_cases(io.StringIO(text, newline=""), ctx), ctx)
        return finish_suite(stem, None, SuiteDefaults(), cases, ctx)
    doc = load_json(text, ctx) if ext == ".json" else load_yaml(text, ctx)
    if isinstance(doc, dict) and "test_cases" not in doc and ("tests" in doc or "prompts" in doc):
        return promptfoo_suite(doc, stem, ctx)
    return native_suite(doc, stem, ctx)


def load_suite(
    path: str | Path,
    *,
    allow_file_refs: bool = True,
    validate_checks: bool = True,
    allow_python: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Suite:
    """Read the suite file at ``path``; ``file://`` references are relative to its folder.

    Raises:
        SuiteError: The file is missing, too large or cannot be read.
    """
    path = Path(path)
    data = read_file(path, Context(str(path), max_bytes=max_bytes))
    return parse_suite(
        data,
        filename=str(path),
        allow_file_refs=allow_file_refs,
        base_dir=path.parent,
        validate_checks=validate_checks,
        allow_python=allow_python,
        max_bytes=max_bytes,
    )


def iter_cases(
    path: str | Path,
    *,
    validate_checks: bool = True,
    allow_python: bool = True,
    max_line_bytes: int = 16 * 1024 * 1024,
) -> Iterator[TestCase]:
    """Yield the cases of a suite file one by one.

    JSONL and CSV files are streamed, so a file of any size is read in constant memory (each
    line at most ``max_line_bytes``); other formats are loaded whole, then yielded.

    Raises:
        SuiteError: As soon as a line or row cannot be read.
    """
    path = Path(path)
    ctx = Context(str(path), validate_checks, allow_python, base_dir=path.parent)
    ext = check_extension(str(path), ctx)
    if ext not in (".jsonl", ".csv"):
        yield from load_suite(
            path, validate_checks=validate_checks, allow_python=allow_python
        ).test_cases
        return
    try:
        if ext == ".jsonl":
            with path.open("rb") as fh:
                yield from jsonl_cases(stream_lines(fh, max_line_bytes, ctx), ctx)
        else:
            with path.open(encoding="utf-8-sig", newline="") as text_fh:
                yield from csv_cases(text_fh, ctx)
    except UnicodeDecodeError as exc:
        raise ctx.error(UTF8_MESSAGE.format(offset=exc.start)) from exc
    except OSError as exc:
        raise ctx.error(f"The file cannot be read ({exc.strerror or exc}).") from exc


def dump_suite(suite: Suite, *, fmt: Literal["yaml", "json", "jsonl"] = "yaml") -> str:
    """Write ``suite`` in a format :func:`parse_suite` reads back to the same cases.

    Defaults are already part of each case, so they are not written again.
    """
    cases = [c.model_dump(mode="json", exclude_defaults=True) for c in suite.test_cases]
    if fmt == "jsonl":
        return "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
    doc: dict[str, Any] = {"name": suite.name}
    if suite.description is not None:
        doc["description"] = suite.description
    doc["test_cases"] = cases
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
