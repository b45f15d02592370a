"""Checks on a reply inside a test: ``expect(reply).contains(…)`` and ``check(reply, spec)``.

Any check of the registry (``aifactory checks``) runs here exactly as in a suite: it is built
from a :class:`~aifactory.domain.models.CheckSpec`, run with the judge of this machine's
settings, and recorded on the test's case of the run. A failed check raises ``AssertionError``
(the test failed); a check that could not run raises :class:`~aifactory.errors.CheckError` (the
test is an error), never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aifactory.domain.checks import resolve_type
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase
from aifactory.errors import CheckError, CheckSpecError

if TYPE_CHECKING:
    from aifactory.pytest_plugin.session import AgentHandle

_ACTIVE: ContextVar[AgentHandle | None] = ContextVar("aifactory_agent", default=None)


@dataclass(frozen=True, slots=True)
class Reply:
    """The agent's reply to one input: reads as its text (``"30 days" in reply``)."""

    output: str
    case: TestCase
    """The input as the case the agent answered."""
    reply: AgentReply
    handle: AgentHandle | None = field(default=None, repr=False, compare=False)

    @property
    def tool_calls(self) -> list[Any]:
        return list(self.reply.tool_calls)

    @property
    def latency_ms(self) -> float:
        return self.reply.latency_ms

    def __str__(self) -> str:
        return self.output

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and text in self.output


@contextmanager
def active(handle: AgentHandle) -> Iterator[None]:
    """Make ``handle`` the test's agent while the test runs (plain strings are checked there)."""
    token = _ACTIVE.set(handle)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _as_reply(reply: Reply | str) -> Reply:
    if isinstance(reply, Reply):
        return reply
    if not isinstance(reply, str):
        raise TypeError(f"expect() and check() take a reply or a string, not {type(reply)!r}.")
    case = TestCase(name="reply", input="")
    return Reply(output=reply, case=case, reply=AgentReply(output=reply), handle=_ACTIVE.get())


def run_spec(reply: Reply | str, spec: Mapping[str, Any] | CheckSpec) -> CheckResult:
    """Run the check ``spec`` on ``reply``; record it on the test; raise unless it passed."""
    from aifactory.pytest_plugin.session import standalone

    target = _as_reply(reply)
    built = spec if isinstance(spec, CheckSpec) else CheckSpec.model_validate(dict(spec))
    handle = target.handle or _ACTIVE.get()
    runner = handle.session if handle is not None else standalone()
    result = runner.check(built, target.reply, target.case)
    if handle is not None:
        handle.record_check(result)
    if result.status == "error":
        raise CheckError(f"Check {built.type!r} could not run: {result.reason}")
    if not result.passed:
        raise AssertionError(f"Check {built.type!r} failed: {result.reason}")
    return result


class Expect:
    """Chained checks on one reply; each method runs its check at once."""

    def __init__(self, reply: Reply | str) -> None:
        self._reply = _as_reply(reply)

    def __getattr__(self, name: str) -> Callable[..., Expect]:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            check_type, _ = resolve_type(name)
        except CheckSpecError as exc:
            raise AttributeError(str(exc)) from None
        first = next(iter(check_type.parameters), None)

        def run(*args: Any, **params: Any) -> Expect:
            if args:
                if len(args) > 1 or first is None or first in params:
                    raise TypeError(
                        f"{name}() takes its first parameter ({first}) as the one positional "
                        "argument; give the others by name."
                    )
                params[first] = args[0]
            run_spec(self._reply, CheckSpec(type=name, **params))
            return self

        run.__name__ = name
        return run

    def __repr__(self) -> str:
        return f"expect({self._reply.output!r})"
