"""Fill an http agent's request from a test case: ``{{input}}`` placeholders and ``${env:NAME}``.

Placeholders: ``{{input}}`` (this turn's message), ``{{messages}}`` (the conversation so far as
a JSON array of ``{"role", "content"}``), ``{{session_id}}`` (the conversation's session id: a
fresh UUID per single-turn case), ``{{expected}}`` and ``{{vars.NAME}}``.

``${env:NAME}`` is read only from the config itself, never from a test case's values, and only
for names the :class:`~aifactory.agents.env.EnvPolicy` allows.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aifactory.agents.env import ENV_REF, EnvPolicy
from aifactory.domain.models import TestCase
from aifactory.errors import AgentError

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")
_MISSING = object()


def has_placeholders(value: Any) -> bool:
    """Whether ``value`` (a string, or dicts and lists of them) needs filling at all."""
    if isinstance(value, str):
        return "{{" in value or "${env:" in value
    if isinstance(value, dict):
        return any(has_placeholders(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholders(v) for v in value)
    return False


def resolve_env(
    text: str, env: EnvPolicy, secrets: list[str] | None = None, *, where: str = "config"
) -> str:
    """Replace every ``${env:NAME}`` in ``text`` with the server's environment variable.

    Args:
        text: The configured string.
        env: Which names may be read.
        secrets: When given, every value read is appended, so error messages can redact it.
        where: What the string is, for the error message (``"header 'Authorization'"``).

    Raises:
        AgentError: A name is not allowed or not set; the message names it, never a value.
    """
    if "${env:" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        value = env.read(match.group(1), where=where)
        if secrets is not None and value:
            secrets.append(value)
        return value

    return ENV_REF.sub(substitute, text)


class CaseValues:
    """The values a test case (one turn of a conversation) offers to placeholders.

    Args:
        case: The case; for a turn of a conversation, its history ending with this turn.
        session_id: The conversation's session id (None: a fresh one, made when first read).
    """

    __slots__ = ("_case", "_messages", "_session_id")

    def __init__(self, case: TestCase, session_id: str | None = None) -> None:
        self._case = case
        self._messages: list[dict[str, str]] | None = None
        self._session_id = session_id

    @property
    def session_id(self) -> str:
        """The session id sent as ``{{session_id}}``."""
        if self._session_id is None:
            self._session_id = str(uuid.uuid4())
        return self._session_id

    def lookup(self, name: str) -> Any:
        """The raw value of placeholder ``name``, or raise :class:`AgentError`."""
        case = self._case
        if name == "input":
            return case.input_text()
        if name == "messages":
            if self._messages is None:
                self._messages = [{"role": m.role, "content": m.content} for m in case.messages()]
            return self._messages
        if name == "session_id":
            return self.session_id
        if name == "expected":
            return case.expected
        if name.startswith("vars."):
            value: Any = case.vars
            for key in name[5:].split("."):
                value = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
                if value is _MISSING:
                    raise AgentError(
                        f"The agent's request uses {{{{{name}}}}} but test case {case.name!r} "
                        f"has no such var; add it to the case's vars."
                    )
            return value
        raise AgentError(
            f"The agent's request uses the unknown placeholder {{{{{name}}}}}; known ones are "
            "{{input}}, {{messages}}, {{session_id}}, {{expected}} and {{vars.NAME}}."
        )


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def fill_string(
    text: str, values: CaseValues, secrets: list[str], env: EnvPolicy, *, url: bool = False
) -> Any:
    """Fill one string. A string that is exactly one placeholder becomes its raw value.

    ``${env:NAME}`` is read first, so a case's values are never read as references. With
    ``url=True`` substituted values are percent-encoded and the result stays a string.
    """
    text = resolve_env(text, env, secrets, where="URL" if url else "body")
    if "{{" not in text:
        return text
    whole = _PLACEHOLDER.fullmatch(text.strip()) if not url else None
    if whole is not None:
        return values.lookup(whole.group(1))

    def substitute(match: re.Match[str]) -> str:
        filled = _as_text(values.lookup(match.group(1)))
        return quote(filled, safe="") if url else filled

    return _PLACEHOLDER.sub(substitute, text)


def fill_header(
    name: str, text: str, values: CaseValues, secrets: list[str], env: EnvPolicy
) -> str:
    """Fill one header value: ``${env:NAME}``, then placeholders as text on one line."""
    text = resolve_env(text, env, secrets, where=f"header {name!r}")
    if "{{" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        return _as_text(values.lookup(match.group(1)))

    filled = _PLACEHOLDER.sub(substitute, text)
    # A value with a line break would end the header (or be refused by the client).
    return filled.replace("\r", " ").replace("\n", " ")


def fill(value: Any, values: CaseValues, secrets: list[str], env: EnvPolicy) -> Any:
    """Fill every string inside ``value`` (dicts and lists recursively); keys stay as they are."""
    if isinstance(value, str):
        return fill_string(value, values, secrets, env)
    if isinstance(value, dict):
        return {k: fill(v, values, secrets, env) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values, secrets, env) for v in value]
    return value
