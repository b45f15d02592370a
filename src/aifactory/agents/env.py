"""Which ``${env:NAME}`` an agent config may read: the operator's ``AIFACTORY_AGENT_ENV``.

Whoever may register an agent chooses where it sends its requests. If a config could read any
variable of the server's environment, a ``write`` key would be enough to have the server send its
own secrets (``AIFACTORY_API_KEYS``, the provider keys, the database URL) to a host of one's
choosing. So a reference resolves only when:

* the operator allows the name in ``AIFACTORY_AGENT_ENV`` (``TEAM_TOKEN``, or ``TEAM_*`` for a
  prefix; nothing is allowed by default), and
* the name is none of the server's own: every variable :class:`~aifactory.settings.Settings`
  reads (``DATABASE_URL``, ``REDIS_URL``, ``SUPABASE_KEY``, ...), anything under ``AIFACTORY_``,
  ``ANTHROPIC_`` or ``OPENAI_`` (the provider SDKs read their credentials from there), and the
  database driver's ``PGPASSWORD``. No pattern can allow those.

Two moments apply the same :class:`EnvPolicy`: registration (every string of a config, at any
depth, :meth:`EnvPolicy.refusals`, a 422) and every call (:meth:`EnvPolicy.read`, an ``error``
result before anything is sent), so a name the operator stops allowing stops working at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import AliasChoices

from aifactory.errors import AgentError, ConfigError
from aifactory.settings import Settings

SETTING = "AIFACTORY_AGENT_ENV"
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_ENTRY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?|\*")
_RESERVED_PREFIXES = ("AIFACTORY_", "ANTHROPIC_", "OPENAI_")
_RESERVED_EXTRA = frozenset({"PGPASSWORD", "PGPASSFILE"})


@cache
def server_setting_names() -> frozenset[str]:
    """The (upper-case) names of every variable the server reads into its settings."""
    names: set[str] = set()
    for field_name, info in Settings.model_fields.items():
        names.add(field_name.upper())
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names.update(c.upper() for c in choices if isinstance(c, str))
    return frozenset(names | _RESERVED_EXTRA)


def is_server_setting(name: str) -> bool:
    """Whether ``name`` is one of the server's own variables, which no agent may read."""
    upper = name.upper()  # settings are read case-insensitively
    return upper in server_setting_names() or upper.startswith(_RESERVED_PREFIXES)


@dataclass(frozen=True, slots=True)
class EnvReference:
    """One ``${env:NAME}`` found in a config."""

    field: str
    """Where it is, like ``config.headers.Authorization`` or ``config.body.auth[0]``."""
    name: str


@dataclass(frozen=True, slots=True)
class EnvRefusal:
    """A reference the policy refuses, with the sentence that says why and what to do."""

    field: str
    name: str
    message: str


def references(value: Any, *, field: str = "config") -> Iterator[EnvReference]:
    """Every ``${env:NAME}`` in ``value``: strings at any depth, dict keys included."""
    if isinstance(value, str):
        for match in ENV_REF.finditer(value):
            yield EnvReference(field, match.group(1))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{field}.{key}"
            yield from references(str(key), field=where)
            yield from references(item, field=where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from references(item, field=f"{field}[{index}]")


class EnvPolicy:
    """Which environment variables agent configs may read.

    Args:
        allowed: Names and ``PREFIX_*`` patterns, usually ``settings.agent_env_names()``.
        environ: Where values are read (default: the process environment, at every call).

    Raises:
        ConfigError: An entry is not a variable name or a ``PREFIX_*`` pattern.
    """

    def __init__(
        self, allowed: Iterable[str] = (), *, environ: Mapping[str, str] | None = None
    ) -> None:
        self._names: set[str] = set()
        self._prefixes: list[str] = []
        for raw in allowed:
            entry = raw.strip()
            if not entry:
                continue
            if not _ENTRY.fullmatch(entry):
                raise ConfigError(
                    f"{SETTING} entry {entry!r} is neither a variable name nor a PREFIX_* "
                    "pattern; write it like TEAM_TOKEN or TEAM_*."
                )
            if entry.endswith("*"):
                self._prefixes.append(entry[:-1])
            else:
                self._names.add(entry)
        self._environ = environ

    @classmethod
    def from_settings(cls, settings: Settings) -> EnvPolicy:
        """The policy of ``settings`` (``AIFACTORY_AGENT_ENV``)."""
        return cls(settings.agent_env_names())

    def allows(self, name: str) -> bool:
        """Whether configs may read ``name``."""
        return self.refusal(name, where="config") is None

    def refusal(self, name: str, *, where: str) -> str | None:
        """Why a reference to ``name`` in ``where`` is refused (a sentence), or None."""
        if is_server_setting(name):
            return (
                f"The agent's {where} reads ${{env:{name}}}, one of the server's own settings, "
                f"which no agent may read whatever {SETTING} allows; keep the agent's credential "
                f"in a variable of its own and allow that name in {SETTING}."
            )
        if name in self._names or any(name.startswith(p) for p in self._prefixes):
            return None
        return (
            f"The agent's {where} reads ${{env:{name}}}, which {SETTING} does not allow; the "
            f"operator must list the name (or a PREFIX_* pattern) in {SETTING}, or change the "
            "agent's config."
        )

    def refusals(self, config: Any, *, field: str = "config") -> list[EnvRefusal]:
        """Every reference in ``config`` that is refused, in the order they appear."""
        found: list[EnvRefusal] = []
        for ref in references(config, field=field):
            message = self.refusal(ref.name, where=ref.field)
            if message is not None:
                found.append(EnvRefusal(ref.field, ref.name, message))
        return found

    def read(self, name: str, *, where: str) -> str:
        """The value of ``name`` now, for an agent's call.

        Raises:
            AgentError: The name is refused or not set; nothing may be sent. The message names
                the variable, never a value.
        """
        message = self.refusal(name, where=where)
        if message is not None:
            raise AgentError(f"{message} Nothing was sent.")
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(name)
        if value is None:
            raise AgentError(
                f"The agent's {where} reads the environment variable {name}, which is not set "
                "on the server; set it or change the agent's config."
            )
        return value
