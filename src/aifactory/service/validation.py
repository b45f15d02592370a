"""Checks on what arrives over the API, before anything is stored or run."""

from __future__ import annotations

from collections.abc import Iterable

from aifactory.agents.env import EnvPolicy
from aifactory.agents.ssrf import AddressPolicy
from aifactory.domain.checks import build_check
from aifactory.domain.models import AgentSpec, CheckSpec, TestCase
from aifactory.errors import BlockedAddressError, CheckSpecError, ConfigError, InvalidInput


def validate_check(spec: CheckSpec, *, field: str) -> None:
    """A check must be buildable; ``python`` checks never arrive over the API."""
    try:
        build_check(spec, allow_python=False)
    except CheckSpecError as exc:
        where = field + (f".{exc.field}" if exc.field else "")
        raise InvalidInput(str(exc), details=[{"field": where, "message": str(exc)}]) from exc


def validate_cases(cases: Iterable[TestCase], *, where: str = "test_cases") -> int:
    """Validate every case's checks (a conversation's turns' too); returns how many cases there
    were.

    Big batches repeat the same few check specs, so each distinct spec is built once.
    """
    count = 0
    seen: set[str] = set()

    def validate(specs: list[CheckSpec], field: str) -> None:
        for position, spec in enumerate(specs):
            key = spec.model_dump_json()
            if key not in seen:
                seen.add(key)
                validate_check(spec, field=f"{field}[{position}]")

    for index, case in enumerate(cases):
        validate(case.checks, f"{where}[{index}].checks")
        for number, turn in enumerate(case.turns or ()):
            validate(turn.checks, f"{where}[{index}].turns[{number}].checks")
        count += 1
    return count


def validate_agent(spec: AgentSpec, policy: AddressPolicy, env: EnvPolicy) -> None:
    """Refuse an agent that reads an environment variable ``env`` does not allow (anywhere in
    its config), or whose URL is a refused address literal."""
    refused = env.refusals(spec.config)
    if refused:
        raise InvalidInput(
            refused[0].message,
            details=[{"field": r.field, "message": r.message} for r in refused],
        )
    url = spec.config.get("url") if spec.kind == "http" else spec.config.get("base_url")
    if not isinstance(url, str) or not url:
        return
    try:
        policy.check_literal_url(url)
    except (BlockedAddressError, ConfigError) as exc:
        field = "config.url" if spec.kind == "http" else "config.base_url"
        raise InvalidInput(str(exc), details=[{"field": field, "message": str(exc)}]) from exc
