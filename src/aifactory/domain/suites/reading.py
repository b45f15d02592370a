"""Reading untrusted bytes safely: size, UTF-8, YAML without bombs, JSON without depth.

Every reader shares a :class:`Context`: the file's name for errors, the caller's permissions
(file references, python checks) and the warnings gathered on the way.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aifactory.domain.suites.model import DEFAULT_MAX_BYTES, MAX_DEPTH, SUITE_EXTENSIONS
from aifactory.errors import SuiteError


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


YAML_LOADER = _yaml_loader()
# Nodes that aliases may add on top of the document's own; a "billion laughs" file adds 10^9.
_YAML_ALIAS_BUDGET = 1_000_000
_SIZE_CAP = 10**12


@dataclass
class Context:
    """Where a reader is (the file) and what it may do; collects warnings."""

    file: str
    validate_checks: bool = True
    allow_python: bool = True
    allow_file_refs: bool = True
    base_dir: Path | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    warnings: list[str] = field(default_factory=list)
    built: set[str] = field(default_factory=set)
    """The checks built already, by their JSON: a suite's cases mostly repeat a few."""

    def error(self, message: str, *, case: str | None = None, at: str | None = None) -> SuiteError:
        return SuiteError(message, file=self.file, case=case, field=at or None)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


UTF8_MESSAGE = "The file is not valid UTF-8 (bad byte at offset {offset}); save it as UTF-8."


def check_extension(filename: str, ctx: Context) -> str:
    """The file's lower-case extension; an unknown one is a SuiteError."""
    ext = Path(filename).suffix.lower()
    if ext not in SUITE_EXTENSIONS:
        raise ctx.error(
            f"A suite file must end in {', '.join(SUITE_EXTENSIONS)}; "
            f"{Path(filename).name!r} does not. Rename it to match its format."
        )
    return ext


def read_file(path: Path, ctx: Context) -> bytes:
    """The file's bytes, refusing a missing or too large file before reading it."""
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


def decode(data: bytes | str, ctx: Context) -> str:
    """``data`` as text: strict UTF-8, a byte order mark dropped, within the size limit."""
    if len(data) > ctx.max_bytes:
        raise ctx.error(_too_large(len(data), ctx.max_bytes))
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ctx.error(UTF8_MESSAGE.format(offset=exc.start)) from exc


def stream_lines(fh: io.BufferedReader, limit: int, ctx: Context) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` from a binary file, each line at most ``limit`` bytes."""
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


def load_json(text: str, ctx: Context, *, where: str = "The file") -> Any:
    """Parse JSON text, refusing nesting deeper than MAX_DEPTH."""
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


def _check_depth(doc: Any, ctx: Context, where: str) -> None:
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


def load_yaml(text: str, ctx: Context, *, where: str = "The file") -> Any:
    """Parse YAML text safely: no code, no alias bombs, no deep nesting."""
    _guard_yaml(text, ctx, where)
    try:
        return yaml.load(text, Loader=YAML_LOADER)
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


def _guard_yaml(text: str, ctx: Context, where: str) -> None:
    """Refuse alias bombs, recursive aliases and deep nesting before building any object.

    Aliases share nodes, so a tiny file can stand for billions of them; walking the event
    stream gives each anchor its expanded size without ever expanding it.
    """
    anchored: dict[str, int] = {}
    open_anchors: set[str] = set()
    stack: list[list[Any]] = []  # [expanded size, anchor] of each open collection
    real = expanded = 0
    try:
        for event in yaml.parse(text, Loader=YAML_LOADER):
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
