"""The check registry: factories that turn a :class:`CheckSpec` into a runnable check.

A check factory takes the check's parameters as keyword arguments and returns an async
callable ``run(reply, case, ctx) -> Outcome``. It raises :class:`CheckError` when the check
cannot run; :func:`run_check` turns that into an ``error`` result, never a silent pass.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from pydantic import ConfigDict, ValidationError, validate_call

from aifactory.domain.models import (
    AgentReply,
    CheckResult,
    CheckSpec,
    TestCase,
    TranscriptEntry,
    Usage,
)
from aifactory.errors import CheckError, CheckSpecError


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check found, before ``negate`` and ``weight`` are applied."""

    score: float
    passed: bool
    reason: str = ""
    details: dict[str, Any] | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """What the judge is asked to grade."""

    kind: str  # "rubric", "factuality" or "goal"
    criteria: str
    """The rubric, the reference answer for factuality, or the user's goal."""
    input: str
    output: str
    expected: str | None = None
    sample: int = 0
    """Index of the sample when several are taken (part of the cache key)."""
    conversation: str | None = None
    """The transcript as text, when the judge grades a conversation rather than one reply."""


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """The judge's structured verdict."""

    score: float
    passed: bool
    reasoning: str
    usage: Usage = field(default_factory=Usage)
    cached: bool = False


class Judge(Protocol):
    """A model that grades an output (the ``grader`` role)."""

    async def grade(self, request: JudgeRequest) -> JudgeVerdict: ...


class Embedder(Protocol):
    """Turns texts into vectors for semantic similarity."""

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


@dataclass(slots=True)
class CheckContext:
    """What checks may use besides the reply and the case: the judge and the embedder."""

    judge: Judge | None = None
    embedder: Embedder | None = None
    regex_timeout_s: float = 1.0
    allow_python: bool = True
    """``python`` checks run from the command line only, never over the API."""
    transcript: Sequence[TranscriptEntry] | None = None
    """The conversation (so far), for checks that read one: set for ``scope: "conversation"``
    and for the conversation checks (``goal_completed``, ``turn_count``, ``tool_sequence``)."""


Check = Callable[[AgentReply, TestCase, CheckContext], Awaitable[Outcome]]
CheckFactory = Callable[..., Check]


@dataclass(frozen=True, slots=True)
class CheckType:
    """A registered check type."""

    name: str
    factory: CheckFactory
    description: str
    parameters: dict[str, str]
    """Parameter name to a readable type and default, for ``aifactory checks``."""
    io_bound: bool = False
    """Waits on I/O (a judge, an embedding model): run concurrently with other such checks."""
    whole_conversation: bool = False
    """Judges a conversation as a whole (``turn_count``): always reads the transcript, and
    ``scope: "each"`` does not apply."""
    across_turns: bool = False
    """In a conversation its default scope reads every reply (``tool_called``)."""


_REGISTRY: dict[str, CheckType] = {}
_PLUGINS_LOADED = False
_SNAPSHOT: dict[str, CheckType] | None = None


def check(
    name: str,
    *,
    io_bound: bool = False,
    whole_conversation: bool = False,
    across_turns: bool = False,
) -> Callable[[CheckFactory], CheckFactory]:
    """Register a check factory under ``name``.

    The factory's keyword parameters are the check's parameters; they are validated with
    pydantic when a spec is built, so a wrong or missing parameter is a :class:`CheckSpecError`.
    ``whole_conversation`` and ``across_turns`` say how it reads a conversation
    (:class:`CheckType`).
    """

    def register(factory: CheckFactory) -> CheckFactory:
        params: dict[str, str] = {}
        for pname, param in inspect.signature(factory).parameters.items():
            annotation = (
                param.annotation
                if isinstance(param.annotation, str)
                else getattr(param.annotation, "__name__", str(param.annotation))
            )
            if param.default is inspect.Parameter.empty:
                params[pname] = f"{annotation} (required)"
            else:
                params[pname] = f"{annotation} = {param.default!r}"
        doc = (inspect.getdoc(factory) or "").split("\n", 1)[0]
        global _SNAPSHOT
        _SNAPSHOT = None
        _REGISTRY[name] = CheckType(
            name=name,
            factory=_validated(factory),
            description=doc,
            parameters=params,
            io_bound=io_bound,
            whole_conversation=whole_conversation,
            across_turns=across_turns,
        )
        return factory

    return register


def _validated(factory: CheckFactory) -> CheckFactory:
    """``factory`` with its parameters validated by pydantic, whose validator is built by the
    first call: a run builds the validators of the check types it uses, not of every one."""

    @functools.cache
    def validator() -> CheckFactory:
        return validate_call(config=ConfigDict(arbitrary_types_allowed=True))(factory)

    @functools.wraps(factory)
    def call(*args: Any, **params: Any) -> Check:
        return validator()(*args, **params)

    return call


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for ep in entry_points(group="aifactory.checks"):
        ep.load()  # importing the module registers its checks


def registry() -> dict[str, CheckType]:
    """Every known check type, built-ins and plugins (sorted by name)."""
    global _SNAPSHOT
    if _SNAPSHOT is None:
        import aifactory.domain.checks.conversation
        import aifactory.domain.checks.deterministic
        import aifactory.domain.checks.model_graded  # noqa: F401

        _load_plugins()
        _SNAPSHOT = dict(sorted(_REGISTRY.items()))
    return _SNAPSHOT


def resolve_type(type_name: str) -> tuple[CheckType, bool]:
    """Find the check type for ``type_name``; ``not_X`` is ``X`` negated."""
    known = _SNAPSHOT if _SNAPSHOT is not None else registry()
    if type_name in known:
        return known[type_name], False
    if type_name.startswith("not_") and type_name[4:] in known:
        return known[type_name[4:]], True
    raise CheckSpecError(
        f"Check type {type_name!r} is not known. Known types: {', '.join(known)}.", field="type"
    )


@dataclass(frozen=True, slots=True)
class BuiltCheck:
    """A check spec validated and ready to run."""

    spec: CheckSpec
    run: Check
    negate: bool
    io_bound: bool = False
    whole_conversation: bool = False
    across_turns: bool = False

    @property
    def scope(self) -> str:
        """What it judges in a conversation: ``last``, ``conversation`` or ``each``."""
        if self.whole_conversation:
            return "conversation"
        if self.across_turns and self.spec.scope == "last":
            return "conversation"
        return self.spec.scope


def build_check(spec: CheckSpec, *, allow_python: bool = True) -> BuiltCheck:
    """Validate ``spec`` and build its check; raise :class:`CheckSpecError` when it cannot be."""
    check_type, prefix_negated = resolve_type(spec.type)
    if check_type.name == "python" and not allow_python:
        raise CheckSpecError(
            "Check type 'python' runs code and is only allowed from the command line, "
            "never over the API.",
            field="type",
        )
    try:
        run = check_type.factory(**spec.params)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or spec.type
        raise CheckSpecError(
            f"Check {spec.type!r}: parameter {loc!r}: {first['msg']}.", field=loc
        ) from exc
    except CheckSpecError:
        raise
    except (ValueError, TypeError) as exc:
        raise CheckSpecError(f"Check {spec.type!r}: {exc}") from exc
    if check_type.whole_conversation and spec.scope == "each":
        raise CheckSpecError(
            f"Check {spec.type!r} judges the conversation as a whole, so scope 'each' does not "
            "apply to it; leave 'scope' out.",
            field="scope",
        )
    return BuiltCheck(
        spec=spec,
        run=run,
        negate=spec.negate != prefix_negated,
        io_bound=check_type.io_bound,
        whole_conversation=check_type.whole_conversation,
        across_turns=check_type.across_turns,
    )


async def run_check(
    built: BuiltCheck, reply: AgentReply, case: TestCase, ctx: CheckContext
) -> CheckResult:
    """Run one built check; an error while running is an ``error`` result, never a pass."""
    spec = built.spec
    try:
        outcome = await built.run(reply, case, ctx)
    except CheckError as exc:
        return CheckResult(
            type=spec.type,
            status="error",
            passed=False,
            score=0.0,
            weight=spec.weight,
            reason=str(exc),
        )
    except Exception as exc:  # a check's own bug must not pass silently either
        return CheckResult(
            type=spec.type,
            status="error",
            passed=False,
            score=0.0,
            weight=spec.weight,
            reason=f"Check {spec.type!r} failed to run: {type(exc).__name__}: {exc}",
        )
    score = min(1.0, max(0.0, outcome.score))
    passed = outcome.passed
    reason = outcome.reason
    if built.negate:
        score, passed = 1.0 - score, not passed
        reason = f"(negated) {reason}" if reason else "(negated)"
    return CheckResult(
        type=spec.type,
        status="passed" if passed else "failed",
        passed=passed,
        score=score,
        weight=spec.weight,
        reason=reason,
        details=outcome.details,
        usage=outcome.usage,
    )
