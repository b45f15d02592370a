"""Suite files: the formats ``aifactory run`` and ``POST /api/v1/suites/import`` read.

The format follows the file name's extension:

``.yaml``, ``.yml``, ``.json``
    ``{"name", "description", "defaults": {"checks", "threshold", "tags", "vars"},
    "test_cases": [TestCase, ...]}``, or a bare list of test cases. A mapping with a top-level
    ``tests`` or ``prompts`` key is a promptfoo configuration (see below).
``.jsonl``
    One test case per line; blank lines are skipped; errors name the line.
``.csv``
    A header row, then one case per row. Columns: ``name``, ``input`` (required), ``expected``,
    ``tags`` (split on ``,`` or ``|``), ``threshold``, and any number of ``check:TYPE`` columns
    whose cell holds the check's main parameter (an empty cell adds no check):

    =====================================================  =====================================
    TYPE                                                   the cell is
    =====================================================  =====================================
    equals, contains, icontains, not_contains,             ``value``
    starts_with, ends_with, similarity,
    semantic_similarity, factuality
    regex                                                  ``pattern``
    contains_any, contains_all                             ``values``: ``a|b|c`` or a JSON list
    llm_rubric                                             ``rubric``
    latency / cost                                         ``max_ms`` / ``max_usd`` (a number)
    json_schema                                            ``schema`` (a JSON object)
    json_path                                              ``path`` (with ``exists: true``)
    json_valid                                             ``contains`` (a JSON value anywhere),
                                                           or yes/true/1/x (the whole output)
    length                                                 ``MIN..MAX``, ``MIN..``, ``..MAX``;
                                                           a lone number is the maximum
    tool_called                                            ``name``
    any other type (plugins, ``python``)                   a JSON object of parameters, else
                                                           ``value``
    =====================================================  =====================================

    ``not_X`` columns take X's cell. A row without a name is named ``row N``.

The ``defaults`` of a suite are applied to every case as it loads: their checks are appended,
their threshold fills a case without one, their tags and vars are merged under the case's own.
Cases without a name are named ``test N`` (YAML, JSON), ``line N`` (JSONL) or ``row N`` (CSV).

promptfoo configurations map as promptfoo runs them: one case per test x prompt; a ``vars``
value that is a list of strings expands as a matrix (promptfoo keeps other lists whole); the
input is the prompt template filled with the vars (``{{ var }}``, dotted names and the filters
``dump``, ``safe``, ``trim``, ``upper``, ``lower``), or with no ``prompts`` the ``input`` var, else
the only var. A prompt that is a chat array becomes a conversation. The name is the test's
``description``, else ``test N``, then ``(var=value, ...)`` for a matrix and ``[prompt i]``
when there are several prompts. ``defaultTest`` applies to every test; ``not-X`` negates.
Assertion types without a counterpart, and ``file://`` references that cannot be resolved
(``allow_file_refs=False``, as over the API: all of them), refuse the whole file.

Loading is safe for untrusted files: a size limit, strict UTF-8, the safe YAML loader with a
guard against alias bombs and recursive aliases, and a nesting depth limit. Every problem is a
:class:`~aifactory.errors.SuiteError` naming the file, the case and the field.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aifactory.domain.checks import build_check
from aifactory.domain.models import CheckSpec, TestCase
from aifactory.errors import CheckSpecError, SuiteError

SUITE_EXTENSIONS = (".yaml", ".yml", ".json", ".jsonl", ".csv")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 64
"""Deepest nesting of lists and mappings a suite file may have."""
MAX_CASES = 100_000
"""Most cases one file may expand to (a promptfoo matrix grows fast)."""


def _yaml_loader() -> Any:
    """The safe loader (libyaml's when present) with YAML 1.2 booleans and integers.

    YAML 1.1 reads ``yes``, ``no``, ``on``, ``off`` as booleans and ``1:20`` as 80; promptfoo
    (js-yaml) and most people read them as text, so only ``true``/``false`` and plain
    decimal or hex integers are resolved.
    """
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader: Any = type("SuiteLoader", (base,), {})
    dropped = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
    loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in dropped]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:int",
        re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"),
    )
    return loader


_YAML_LOADER = _yaml_loader()
# Nodes that aliases may add on top of the document's own; a "billion laughs" file adds 10^9.
_YAML_ALIAS_BUDGET = 1_000_000
_SIZE_CAP = 10**12


class SuiteDefaults(BaseModel):
    """What every case of a suite gets: extra checks, a threshold, tags and vars."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checks: list[CheckSpec] = Field(default_factory=list)
    threshold: float | None = Field(default=None, ge=0, le=1)
    tags: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)


class Suite(BaseModel):
    """A named list of test cases, with the defaults already applied to each case."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    """The defaults the file declared (already part of ``test_cases``)."""
    test_cases: list[TestCase]
    warnings: list[str] = Field(default_factory=list)
    """Parts of the file that were read but ignored (promptfoo providers, transforms...)."""


@dataclass
class _Ctx:
    file: str
    validate_checks: bool = True
    allow_python: bool = True
    allow_file_refs: bool = True
    base_dir: Path | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    warnings: list[str] = field(default_factory=list)

    def error(self, message: str, *, case: str | None = None, at: str | None = None) -> SuiteError:
        return SuiteError(message, file=self.file, case=case, field=at or None)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


# --------------------------------------------------------------------------- entry points


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
    ctx = _Ctx(filename, validate_checks, allow_python, allow_file_refs, base_dir, max_bytes)
    ext = _extension(filename, ctx)
    text = _decode(data, ctx)
    stem = Path(filename).stem or "suite"
    if ext == ".jsonl":
        cases = _limit(_jsonl_cases(enumerate(text.splitlines(), 1), ctx), ctx)
        return _suite(stem, None, SuiteDefaults(), cases, ctx)
    if ext == ".csv":
        cases = _limit(_csv_cases(io.StringIO(text, newline=""), ctx), ctx)
        return _suite(stem, None, SuiteDefaults(), cases, ctx)
    doc = _load_json(text, ctx) if ext == ".json" else _load_yaml(text, ctx)
    if isinstance(doc, dict) and "test_cases" not in doc and ("tests" in doc or "prompts" in doc):
        return _promptfoo_suite(doc, stem, ctx)
    return _native_suite(doc, stem, ctx)


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
    data = _read_file(path, _Ctx(str(path), max_bytes=max_bytes))
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
    ctx = _Ctx(str(path), validate_checks, allow_python, base_dir=path.parent)
    ext = _extension(str(path), ctx)
    if ext not in (".jsonl", ".csv"):
        yield from load_suite(
            path, validate_checks=validate_checks, allow_python=allow_python
        ).test_cases
        return
    try:
        if ext == ".jsonl":
            with path.open("rb") as fh:
                yield from _jsonl_cases(_stream_lines(fh, max_line_bytes, ctx), ctx)
        else:
            with path.open(encoding="utf-8-sig", newline="") as text_fh:
                yield from _csv_cases(text_fh, ctx)
    except UnicodeDecodeError as exc:
        raise ctx.error(_UTF8_MESSAGE.format(offset=exc.start)) from exc
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


# --------------------------------------------------------------------------- reading safely

_UTF8_MESSAGE = "The file is not valid UTF-8 (bad byte at offset {offset}); save it as UTF-8."


def _extension(filename: str, ctx: _Ctx) -> str:
    ext = Path(filename).suffix.lower()
    if ext not in SUITE_EXTENSIONS:
        raise ctx.error(
            f"A suite file must end in {', '.join(SUITE_EXTENSIONS)}; "
            f"{Path(filename).name!r} does not. Rename it to match its format."
        )
    return ext


def _read_file(path: Path, ctx: _Ctx) -> bytes:
    try:
        size = path.stat().st_size
        if size > ctx.max_bytes:
            raise ctx.error(_too_large(size, ctx.max_bytes))
        with path.open("rb") as fh:
            return fh.read(ctx.max_bytes + 1)
    except FileNotFoundError as exc:
        raise ctx.error("The file does not exist; check the path.") from exc
    except OSError as exc:
        raise ctx.error(f"The file cannot be read ({exc.strerror or exc}).") from exc


def _too_large(size: int, limit: int) -> str:
    return (
        f"The file is {size} bytes, more than the limit of {limit}; split it into smaller suites."
    )


def _decode(data: bytes | str, ctx: _Ctx) -> str:
    if len(data) > ctx.max_bytes:
        raise ctx.error(_too_large(len(data), ctx.max_bytes))
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ctx.error(_UTF8_MESSAGE.format(offset=exc.start)) from exc


def _stream_lines(fh: io.BufferedReader, limit: int, ctx: _Ctx) -> Iterator[tuple[int, str]]:
    for number in itertools.count(1):
        raw = fh.readline(limit + 1)
        if not raw:
            return
        if len(raw) > limit:
            raise ctx.error(f"Line {number} is longer than {limit} bytes; split the case up.")
        try:
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ctx.error(f"Line {number} is not valid UTF-8; save the file as UTF-8.") from exc


def _load_json(text: str, ctx: _Ctx, *, where: str = "The file") -> Any:
    try:
        doc = json.loads(text)
    except RecursionError as exc:
        raise ctx.error(_too_deep(where)) from exc
    except json.JSONDecodeError as exc:
        raise ctx.error(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from exc
    except ValueError as exc:  # e.g. an integer literal with too many digits
        raise ctx.error(f"{where} is not valid JSON: {exc}.") from exc
    _check_depth(doc, ctx, where)
    return doc


def _too_deep(where: str) -> str:
    return f"{where} nests lists and mappings more than {MAX_DEPTH} deep; flatten it."


def _check_depth(doc: Any, ctx: _Ctx, where: str) -> None:
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise ctx.error(_too_deep(where))
        stack.extend((child, depth + 1) for child in children)


def _load_yaml(text: str, ctx: _Ctx, *, where: str = "The file") -> Any:
    _guard_yaml(text, ctx, where)
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise ctx.error(f"{where} is not valid YAML: {_yaml_problem(exc)}.") from exc
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ctx.error(f"{where} holds a YAML value that cannot be read: {exc}.") from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{exc.problem or exc.context or 'syntax error'}{where}"
    return str(exc).strip().rstrip(".")


def _guard_yaml(text: str, ctx: _Ctx, where: str) -> None:
    """Refuse alias bombs, recursive aliases and deep nesting before building any object.

    Aliases share nodes, so a tiny file can stand for billions of them; walking the event
    stream gives each anchor its expanded size without ever expanding it.
    """
    anchored: dict[str, int] = {}
    open_anchors: set[str] = set()
    stack: list[list[Any]] = []  # [expanded size, anchor] of each open collection
    real = expanded = 0
    try:
        for event in yaml.parse(text, Loader=_YAML_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                real += 1
                if len(stack) >= MAX_DEPTH:
                    raise ctx.error(_too_deep(where))
                stack.append([1, event.anchor])
                if event.anchor:
                    open_anchors.add(event.anchor)
                continue
            if isinstance(event, yaml.AliasEvent):
                name = event.anchor or ""
                if name in open_anchors:
                    raise ctx.error(
                        f"{where} has an alias (*{name}) inside its own anchor; "
                        "recursive YAML is not allowed."
                    )
                size = anchored.get(name, 1)
                if size > _YAML_ALIAS_BUDGET:
                    raise ctx.error(_bomb(where))
            elif isinstance(event, yaml.ScalarEvent):
                real += 1
                size = 1
                if event.anchor:
                    anchored[event.anchor] = 1
            elif isinstance(event, yaml.CollectionEndEvent):
                size, anchor = stack.pop()
                if anchor:
                    anchored[anchor] = size
                    open_anchors.discard(anchor)
            else:
                continue
            if stack:
                stack[-1][0] = min(_SIZE_CAP, stack[-1][0] + size)
            else:
                expanded = min(_SIZE_CAP, expanded + size)
    except yaml.YAMLError as exc:
        raise ctx.error(f"{where} is not valid YAML: {_yaml_problem(exc)}.") from exc
    except ValueError as exc:  # text libyaml cannot encode, such as a lone surrogate
        raise ctx.error(f"{where} cannot be read as YAML: {exc}.") from exc
    if expanded > real + max(_YAML_ALIAS_BUDGET, real):
        raise ctx.error(_bomb(where))


def _bomb(where: str) -> str:
    return (
        f"{where} uses YAML aliases that expand to too many values (an alias bomb); "
        "write the values out instead."
    )


# --------------------------------------------------------------------------- cases and errors


def _path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(prefix: str, rest: str) -> str:
    if not rest:
        return prefix
    if not prefix:
        return rest
    return prefix + rest if rest.startswith("[") else f"{prefix}.{rest}"


def _loc_path(raw: Any, loc: tuple[str | int, ...]) -> str:
    # Pydantic puts union members ("str", "list[Message]") in locations; keep only real keys.
    parts: list[str | int] = []
    current = raw
    for item in loc:
        if isinstance(current, dict):
            parts.append(item)
            current = current.get(item)
        elif isinstance(current, list) and isinstance(item, int):
            parts.append(item)
            current = current[item] if 0 <= item < len(current) else None
        elif current is None:
            parts.append(item)
    return _path(parts)


def _validation_error(
    exc: ValidationError, raw: Any, ctx: _Ctx, *, case: str | None, prefix: str, what: str
) -> SuiteError:
    # A misspelt field also shows up as a missing one; name the misspelling. Otherwise the
    # deepest location says the most (for `input`, the message, not "not a string").
    errors = exc.errors()
    first = max(errors, key=lambda e: (e["type"] == "extra_forbidden", len(e["loc"])))
    at = _join(prefix, _loc_path(raw, first["loc"]))
    kind = first["type"]
    if kind == "extra_forbidden":
        message = f"This is not a field of {what}; remove it or fix its spelling."
    elif kind == "missing":
        message = f"This field is required in {what}; add it."
    else:
        message = f"Invalid value: {first['msg']}; fix it."
    return ctx.error(message, case=case, at=at)


def _validate_checks(
    checks: Iterable[CheckSpec], ctx: _Ctx, *, case: str | None, prefix: str
) -> None:
    for index, spec in enumerate(checks):
        _validate_check(spec, ctx, case=case, at=f"{prefix}[{index}]")


def _validate_check(
    spec: CheckSpec,
    ctx: _Ctx,
    *,
    case: str | None,
    at: str,
    rename: dict[str, str] | None = None,
) -> None:
    """Build ``spec`` with the registry; a bad check names the field at ``at``."""
    if not ctx.validate_checks:
        return
    try:
        build_check(spec, allow_python=ctx.allow_python)
    except CheckSpecError as exc:
        param = exc.field.split(".")[0] if exc.field else ""
        if rename is not None:
            param = rename.get(param, param)
        raise ctx.error(f"{exc}", case=case, at=_join(at, param)) from exc


def _case_label(raw: Any, fallback: str) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and name else fallback


def _make_case(raw: dict[str, Any], ctx: _Ctx, *, label: str, prefix: str) -> TestCase:
    try:
        case = TestCase.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(
            exc, raw, ctx, case=label, prefix=prefix, what="a test case"
        ) from exc
    _validate_checks(case.checks, ctx, case=label, prefix=_join(prefix, "checks"))
    return case


def _apply_defaults(case: TestCase, defaults: SuiteDefaults) -> TestCase:
    if defaults == SuiteDefaults():
        return case
    return case.model_copy(
        update={
            "checks": [*case.checks, *defaults.checks],
            "threshold": case.threshold if case.threshold is not None else defaults.threshold,
            "tags": [*case.tags, *(t for t in defaults.tags if t not in case.tags)],
            "vars": {**defaults.vars, **case.vars},
        }
    )


def _limit(cases: Iterable[TestCase], ctx: _Ctx) -> list[TestCase]:
    out: list[TestCase] = []
    for case in cases:
        out.append(case)
        if len(out) > MAX_CASES:
            raise ctx.error(f"The file has more than {MAX_CASES} cases; split it up.")
    return out


def _suite(
    name: str, description: str | None, defaults: SuiteDefaults, cases: list[TestCase], ctx: _Ctx
) -> Suite:
    if not cases:
        raise ctx.error("The file has no test cases; add at least one.")
    counts = Counter(c.name for c in cases)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        shown = ", ".join(repr(n) for n in duplicates[:5])
        ctx.warn(
            f"Several cases share a name ({shown}); results and comparisons tell them "
            "apart only by position."
        )
    return Suite(
        name=name,
        description=description,
        defaults=defaults,
        test_cases=cases,
        warnings=ctx.warnings,
    )


# --------------------------------------------------------------------------- YAML and JSON

_SUITE_KEYS = ("name", "description", "defaults", "test_cases")


def _native_suite(doc: Any, stem: str, ctx: _Ctx) -> Suite:
    if doc is None:
        raise ctx.error("The file is empty; write a suite with a 'test_cases' list.")
    if isinstance(doc, list):
        doc = {"test_cases": doc}
    if not isinstance(doc, dict):
        raise ctx.error("A suite is a mapping with a 'test_cases' list, or a list of test cases.")
    for key in doc:
        if key not in _SUITE_KEYS:
            raise ctx.error(
                f"This is not a suite field; the fields are {', '.join(_SUITE_KEYS)}.", at=str(key)
            )
    name, description = doc.get("name", stem), doc.get("description")
    if not isinstance(name, str) or not name.strip():
        raise ctx.error("The suite's name must be a non-empty string.", at="name")
    if description is not None and not isinstance(description, str):
        raise ctx.error("The suite's description must be a string.", at="description")
    raw_defaults = doc.get("defaults") or {}
    try:
        defaults = SuiteDefaults.model_validate(raw_defaults)
    except ValidationError as exc:
        raise _validation_error(
            exc, raw_defaults, ctx, case=None, prefix="defaults", what="the defaults"
        ) from exc
    _validate_checks(defaults.checks, ctx, case=None, prefix="defaults.checks")
    raw_cases = doc.get("test_cases")
    if not isinstance(raw_cases, list):
        raise ctx.error("The suite needs a 'test_cases' list.", at="test_cases")
    if len(raw_cases) > MAX_CASES:
        raise ctx.error(f"The file has more than {MAX_CASES} cases; split it up.")
    cases = []
    for index, raw in enumerate(raw_cases):
        prefix = f"test_cases[{index}]"
        if not isinstance(raw, dict):
            raise ctx.error(
                "A test case must be a mapping with at least an 'input'.", case=prefix, at=prefix
            )
        if "name" not in raw:
            raw = {"name": f"test {index + 1}", **raw}
        case = _make_case(raw, ctx, label=_case_label(raw, prefix), prefix=prefix)
        cases.append(_apply_defaults(case, defaults))
    return _suite(name, description, defaults, cases, ctx)


# --------------------------------------------------------------------------- JSONL


def _jsonl_cases(lines: Iterable[tuple[int, str]], ctx: _Ctx) -> Iterator[TestCase]:
    for number, line in lines:
        if not line.strip():
            continue
        where = f"Line {number}"
        raw = _load_json(line, ctx, where=where)
        if not isinstance(raw, dict):
            raise ctx.error(
                f"{where} must hold one test case, a JSON object.", case=f"line {number}"
            )
        if "name" not in raw:
            raw = {"name": f"line {number}", **raw}
        label = _case_label(raw, f"line {number}")
        try:
            yield _make_case(raw, ctx, label=label, prefix="")
        except SuiteError as exc:
            raise ctx.error(f"{exc.detail} (line {number})", case=exc.case, at=exc.field) from exc


# --------------------------------------------------------------------------- CSV

_CSV_FIXED = ("name", "input", "expected", "tags", "threshold")
_CSV_MAIN = {
    **dict.fromkeys(
        (
            "equals",
            "contains",
            "icontains",
            "not_contains",
            "starts_with",
            "ends_with",
            "similarity",
            "semantic_similarity",
            "factuality",
        ),
        "value",
    ),
    "regex": "pattern",
    "contains_any": "values",
    "contains_all": "values",
    "llm_rubric": "rubric",
    "latency": "max_ms",
    "cost": "max_usd",
    "json_schema": "schema",
    "json_path": "path",
    "json_valid": "contains",
    "length": "min..max",
    "tool_called": "name",
}
_YES = {"yes", "true", "1", "x", "y"}


def _csv_cases(lines: Iterable[str], ctx: _Ctx) -> Iterator[TestCase]:
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if header is None:
            raise ctx.error("The CSV file is empty; it needs a header row with at least 'input'.")
        columns = _csv_columns(header, ctx)
        for number, row in enumerate(reader, 1):
            if any(cell.strip() for cell in row):
                yield _csv_case(row, number, columns, ctx)
    except csv.Error as exc:
        raise ctx.error(f"The CSV cannot be read near line {reader.line_num}: {exc}.") from exc


def _csv_columns(header: list[str], ctx: _Ctx) -> list[str]:
    columns = []
    for raw in header:
        column = raw.strip().lower()
        if column.startswith("check:"):
            column = "check:" + column[6:].strip()
            if column == "check:":
                raise ctx.error("A 'check:' column needs a type, e.g. 'check:contains'.", at=raw)
        elif column not in _CSV_FIXED:
            raise ctx.error(
                f"This column is not known; use {', '.join(_CSV_FIXED)} or check:TYPE.",
                at=raw or "(empty header)",
            )
        elif column in columns:
            raise ctx.error("This column appears twice; keep one.", at=raw)
        columns.append(column)
    if "input" not in columns:
        raise ctx.error("The CSV header needs an 'input' column.")
    return columns


def _csv_case(row: list[str], number: int, columns: list[str], ctx: _Ctx) -> TestCase:
    if len(row) > len(columns):
        raise ctx.error(
            f"Row {number} has {len(row)} cells but the header has {len(columns)} "
            "columns; quote cells that contain commas.",
            case=f"row {number}",
        )
    cells = dict.fromkeys(_CSV_FIXED, "")
    checks: list[tuple[str, CheckSpec]] = []
    label = f"row {number}"
    for column, cell in zip(columns, row, strict=False):
        if column == "name" and cell.strip():
            label = cell.strip()
        if not column.startswith("check:"):
            cells[column] = cell
    for column, cell in zip(columns, row, strict=False):
        if column.startswith("check:") and cell.strip():
            try:
                checks.append((column, _csv_check(column[6:], cell.strip())))
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = _path(problem["loc"]) or "the check"
                raise ctx.error(
                    f"Row {number}: {where}: {problem['msg']}; fix the cell.", case=label, at=column
                ) from exc
            except ValueError as exc:
                raise ctx.error(f"Row {number}: {exc}", case=label, at=column) from exc
    if not cells["input"].strip():
        raise ctx.error(
            f"Row {number} has an empty input; every row needs one.", case=label, at="input"
        )
    raw: dict[str, Any] = {"name": label, "input": cells["input"]}
    if cells["expected"]:
        raw["expected"] = cells["expected"]
    if cells["tags"].strip():
        raw["tags"] = [t.strip() for t in re.split(r"[,|]", cells["tags"]) if t.strip()]
    if cells["threshold"].strip():
        raw["threshold"] = cells["threshold"].strip()
    raw["checks"] = [spec for _, spec in checks]
    try:
        case = TestCase.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(exc, raw, ctx, case=label, prefix="", what="a test case") from exc
    if ctx.validate_checks:
        for column, spec in checks:
            try:
                build_check(spec, allow_python=ctx.allow_python)
            except CheckSpecError as exc:
                raise ctx.error(f"Row {number}: {exc}", case=label, at=column) from exc
    return case


def _csv_check(check_type: str, cell: str) -> CheckSpec:
    base = (
        check_type[4:]
        if check_type not in _CSV_MAIN and check_type.startswith("not_")
        else (check_type)
    )
    main = _CSV_MAIN.get(base)
    params: dict[str, Any]
    if main is None:
        params = {"value": cell}
        if cell.startswith("{"):
            parsed = _json_cell(cell, "the parameters")
            if not isinstance(parsed, dict):
                raise ValueError("the cell must be a JSON object of parameters.")
            params = parsed
    elif main == "values":
        values = (
            _json_cell(cell, "the list")
            if cell.startswith("[")
            else [v.strip() for v in cell.split("|") if v.strip()]
        )
        if not isinstance(values, list):
            raise ValueError("the cell must be 'a|b|c' or a JSON list.")
        params = {"values": values}
    elif main in ("max_ms", "max_usd"):
        params = {main: _number(cell)}
    elif main == "schema":
        params = {"schema": _json_cell(cell, "the schema")}
    elif main == "path":
        params = {"path": cell, "exists": True}
    elif main == "contains":
        if cell.lower() == "contains":
            params = {"contains": True}
        elif cell.lower() in _YES:
            params = {}
        else:
            raise ValueError(
                "a json_valid cell is 'contains', or yes/true/1/x for the whole output."
            )
    elif main == "min..max":
        params = _length_cell(cell)
    else:
        params = {main: cell}
    return CheckSpec.model_validate({**params, "type": check_type})


def _json_cell(cell: str, what: str) -> Any:
    try:
        return json.loads(cell)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{what} is not valid JSON ({exc}).") from exc


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise ValueError(f"{cell!r} is not a number; write a number such as 1500.") from None


def _length_cell(cell: str) -> dict[str, Any]:
    low, sep, high = cell.partition("..")
    try:
        if not sep:
            return {"max": int(cell)}
        bounds = {
            "min": int(low) if low.strip() else None,
            "max": int(high) if high.strip() else None,
        }
    except ValueError:
        raise ValueError(
            f"{cell!r} is not a length; write MIN..MAX, MIN.., ..MAX or MAX."
        ) from None
    return {k: v for k, v in bounds.items() if v is not None}


def _promptfoo_suite(doc: dict[str, Any], stem: str, ctx: _Ctx) -> Suite:
    # Imported here: the promptfoo mapping builds on this module's readers.
    from aifactory.domain.promptfoo import promptfoo_suite

    return promptfoo_suite(doc, stem, ctx)
