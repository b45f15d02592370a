"""``file://`` references in promptfoo files: read text files, refuse everything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeGuard

from aifactory.domain.suites.reading import Context, decode, load_json, load_yaml, read_file
from aifactory.errors import SuiteError

TEXT_REFS = (".txt", ".md", ".json", ".yaml", ".yml")
"""The only kinds of file a reference may name: text, never code."""


def read_ref(ref: str, ctx: Context, *, label: str | None, at: str) -> tuple[str, str]:
    """The text of a ``file://`` reference and its lower-case suffix."""
    if not ctx.allow_file_refs:
        raise ctx.error(
            f"The file reference {ref!r} is refused: file references are not "
            "allowed here (over the API none are); put the content in the file "
            "itself.",
            case=label,
            at=at,
        )
    target = ref.removeprefix("file://")
    suffix = Path(target).suffix.lower()
    if any(ch in target for ch in "*?[") or suffix not in TEXT_REFS:
        raise ctx.error(
            f"The file reference {ref!r} cannot be resolved: only text files "
            f"({', '.join(TEXT_REFS)}) are read, never code or globs; put the "
            "content in the file itself.",
            case=label,
            at=at,
        )
    if ctx.base_dir is None:
        raise ctx.error(
            f"The file reference {ref!r} cannot be resolved without the suite "
            "file's folder; load the suite from disk.",
            case=label,
            at=at,
        )
    path = Path(target)
    full = path if path.is_absolute() else ctx.base_dir / path
    sub = Context(str(full), max_bytes=ctx.max_bytes)
    try:
        return decode(read_file(full, sub), sub), suffix
    except SuiteError as exc:
        raise ctx.error(
            f"The file reference {ref!r} cannot be resolved: {exc.detail}", case=label, at=at
        ) from exc


def ref_data(ref: str, ctx: Context, *, label: str | None, at: str) -> Any:
    """A referenced YAML or JSON file, parsed."""
    text, suffix = read_ref(ref, ctx, label=label, at=at)
    where = f"The referenced file {ref!r}"
    if suffix == ".json":
        return load_json(text, ctx, where=where)
    if suffix in (".yaml", ".yml"):
        return load_yaml(text, ctx, where=where)
    raise ctx.error(f"{where} must be YAML or JSON here.", case=label, at=at)


def is_ref(value: Any) -> TypeGuard[str]:
    """Whether ``value`` is a ``file://`` reference."""
    return isinstance(value, str) and value.startswith("file://")
