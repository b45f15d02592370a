"""Secrets in agent configs: masked in every answer, kept when a PATCH sends the mask back."""

from __future__ import annotations

import re
from typing import Any

MASK = "********"
_SECRET_NAME = re.compile(r"key|token|secret|password|passwd|authorization|credential|cookie", re.I)
_ENV_REF = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$")


def is_secret_name(name: str) -> bool:
    """Whether a config key or header name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(name))


def mask(value: Any, *, secret: bool = False, in_headers: bool = False) -> Any:
    """A copy of ``value`` with secret-looking entries replaced by :data:`MASK`.

    Every header value is treated as secret (they carry credentials under many names); a
    ``${env:NAME}`` reference is no secret and is shown as it is, so users see where it comes from.
    """
    if isinstance(value, dict):
        return {
            k: mask(
                v,
                secret=secret or in_headers or is_secret_name(str(k)),
                in_headers=str(k).lower() == "headers",
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v, secret=secret) for v in value]
    if secret and isinstance(value, str) and value and not _ENV_REF.match(value):
        return MASK
    if secret and value is not None and not isinstance(value, str | bool):
        return MASK
    return value


def restore(new: Any, old: Any) -> Any:
    """``new`` with every :data:`MASK` replaced by the value stored at the same place in ``old``."""
    if isinstance(new, str) and new == MASK:
        return old
    if isinstance(new, dict):
        base = old if isinstance(old, dict) else {}
        return {k: restore(v, base.get(k)) for k, v in new.items()}
    if isinstance(new, list):
        base_list = old if isinstance(old, list) else []
        return [restore(v, base_list[i] if i < len(base_list) else None) for i, v in enumerate(new)]
    return new


def secret_values(config: Any) -> list[str]:
    """Every secret string in a config (to scrub them from logs and error messages)."""
    found: list[str] = []

    def walk(value: Any, secret: bool, in_headers: bool) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, secret or in_headers or is_secret_name(str(k)), str(k).lower() == "headers")
        elif isinstance(value, list):
            for v in value:
                walk(v, secret, False)
        elif secret and isinstance(value, str) and len(value) >= 4 and not _ENV_REF.match(value):
            found.append(value)

    walk(config, False, False)
    return found
