"""The plugin's session: the agent under test, the checks' judge, and the tests as a run.

The engine is asynchronous and tests are not, so the session keeps one event loop in a thread
of its own: agents, the judge and their connections live there for the whole session, and a
test waits on what it sent (an ``async`` test too, whose own loop is another). It is started by
the first test that asks for the agent, or the first check, and closed when pytest ends.

An agent file runs here, as ``aifactory run`` runs it; a stored agent's id with
``--aifactory-url`` is answered by that server (``POST /api/v1/test/run``, through the SDK),
while checks always run here, with this machine's judge settings.
"""

from __future__ import annotations

import asyncio
import atexit
import re
import threading
from collections.abc import Awaitable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aifactory.cli.local_run import load_agent_file, local_settings
from aifactory.domain.checks import build_check, run_check
from aifactory.domain.models import (
    AgentReply,
    AgentSpec,
    CheckResult,
    CheckSpec,
    Message,
    RunSummary,
    TestCase,
    TestResult,
    Usage,
)
from aifactory.domain.stats import wilson_interval
from aifactory.engine.case_runner import CaseRunner, CaseRunnerOptions
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.engine.summary import SummaryBuilder
from aifactory.errors import AgentError
from aifactory.pytest_plugin.assertions import Reply
from aifactory.settings import load_settings

T = TypeVar("T")
FEEDBACK_CHARS = 2000
FLAKY_SHOWN = 20
_REPEAT_ID = re.compile(r"\[repeat\d+\]$|-repeat\d+(?=\]$)")


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line said."""

    agent: str | None = None
    url: str | None = None
    key: str | None = None
    repeat: int = 1
    json_path: Path | None = None
    suite: str = "pytest"
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, config: pytest.Config) -> Options:
        json_path = config.getoption("aifactory_json")
        return cls(
            agent=config.getoption("aifactory_agent"),
            url=config.getoption("aifactory_url"),
            key=config.getoption("aifactory_key"),
            repeat=config.getoption("aifactory_repeat"),
            json_path=Path(json_path) if json_path else None,
            suite=config.getoption("aifactory_suite") or config.rootpath.name or "pytest",
            metadata={
                key.strip(): value.strip()
                for key, _, value in (
                    item.partition("=") for item in config.getoption("aifactory_metadata")
                )
            },
        )


class _Loop:
    """An event loop in a daemon thread; :meth:`call` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="aifactory-pytest", daemon=True
        )
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


def case_name(node: pytest.Item) -> str:
    """The run's name for a test: its pytest id without the repeat."""
    return _REPEAT_ID.sub("", node.nodeid)


class PluginSession:
    """The agent, the judge and the results of one pytest session."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.results: list[TestResult] = []
        self._indexes: dict[str, int] = {}
        self._loop: _Loop | None = None
        self._parts_cm: AbstractAsyncContextManager[RunnerFactory] | None = None
        self._parts: RunnerFactory | None = None
        self._runner: CaseRunner | None = None
        self._spec: AgentSpec | None = None
        self._client: Any = None
        self.agent_name = "agent"
        self.written: list[str] = []
        """Where the run went, for the summary (a file, a server's run)."""

    @classmethod
    def from_config(cls, config: pytest.Config) -> PluginSession:
        return cls(Options.of(config))

    # -- the engine's parts, on the session's loop ---------------------------------------------

    def _call(self, awaitable: Awaitable[T]) -> T:
        if self._loop is None:
            self._loop = _Loop()

        async def wrapped() -> T:
            return await awaitable

        return self._loop.call(wrapped())

    def _factory(self) -> RunnerFactory:
        if self._parts is None:
            from aifactory.bootstrap import runner_factory

            self._parts_cm = runner_factory(local_settings(load_settings()))
            self._parts = self._call(self._parts_cm.__aenter__())
        return self._parts

    def _agent_runner(self) -> CaseRunner:
        if self._runner is not None:
            return self._runner
        ref = self.options.agent
        if not ref:
            raise pytest.UsageError(
                "The aifactory_agent fixture needs an agent: pass --aifactory-agent FILE (or "
                "--aifactory-url URL --aifactory-agent ID for a stored agent)."
            )
        parts = self._factory()
        spec = load_agent_file(Path(ref))
        self._spec = spec
        self.agent_name = spec.id or spec.name or Path(ref).stem

        async def build() -> CaseRunner:
            agent = parts.agent(spec)
            return parts.case_runner(spec, agent, options=CaseRunnerOptions())

        self._runner = self._call(build())
        return self._runner

    def _remote(self) -> Any:
        if self._client is None:
            from aifactory.client import Client

            self._client = Client(self.options.url, api_key=self.options.key)
            self.agent_name = str(self.options.agent)
        return self._client

    @property
    def remote(self) -> bool:
        """Whether replies come from a server: a URL, and an agent that is not a file."""
        agent = self.options.agent
        return bool(self.options.url) and bool(agent) and not Path(str(agent)).is_file()

    # -- what tests call --------------------------------------------------------------------

    def handle(self, node: pytest.Item, *, repeat_index: int) -> AgentHandle:
        name = case_name(node)
        index = self._indexes.setdefault(name, len(self._indexes))
        if not self.remote:
            self._agent_runner()  # a bad agent file fails the test's setup, said once per test
        return AgentHandle(self, name, case_index=index, repeat_index=repeat_index)

    def reply(self, case: TestCase, repeat_index: int) -> AgentReply:
        if self.remote:
            answer: TestResult = self._remote().run_test(
                case.model_copy(update={"checks": []}), agent_id=self.options.agent
            )
            if answer.status == "error" and answer.output is None:
                raise AgentError(answer.error or "the agent did not answer")
            return AgentReply(
                output=answer.output or "",
                tool_calls=answer.tool_calls,
                usage=answer.usage,
                latency_ms=answer.latency_ms or 0.0,
            )
        runner = self._agent_runner()
        reply, _ = self._call(runner.reply(case, repeat_index))
        return reply

    def run_case(self, case: TestCase, *, case_index: int, repeat_index: int) -> TestResult:
        if self.remote:
            result: TestResult = self._remote().run_test(case, agent_id=self.options.agent)
            return result
        runner = self._agent_runner()
        return self._call(runner.run(case, case_index=case_index, repeat_index=repeat_index))

    def check(self, spec: CheckSpec, reply: AgentReply, case: TestCase) -> CheckResult:
        built = build_check(spec)
        ctx = self._factory().context(allow_python=True)
        return self._call(run_check(built, reply, case, ctx))

    def add(self, result: TestResult) -> None:
        self.results.append(result)

    # -- the run ------------------------------------------------------------------------------

    def summary(self) -> RunSummary:
        builder = SummaryBuilder(len(self.results), repeat=self.options.repeat)
        for result in self.results:
            builder.add(result)
        return builder.build()

    def summary_lines(self) -> list[str]:
        if not self.results:
            return []
        s = self.summary()
        tests = len(self._indexes)
        repeats = f" × {self.options.repeat} repeats" if self.options.repeat > 1 else ""
        where = f" on {self.options.url}" if self.remote else ""
        lines = [f"agent {self.agent_name}{where}: {tests} tests{repeats}, {s.completed} results"]
        ci = s.pass_rate_ci
        rate = "—" if s.pass_rate is None else f"{s.pass_rate:.1%}"
        interval = f" (95% CI {ci.low:.1%} – {ci.high:.1%})" if ci else ""
        lines.append(
            f"pass rate {rate}{interval}: {s.passed} passed, {s.failed} failed, {s.errored} errors"
        )
        if s.mean_score is not None and s.score_ci is not None:
            lines.append(
                f"mean score {s.mean_score:.3f} (95% CI {s.score_ci.low:.3f} – "
                f"{s.score_ci.high:.3f})"
            )
        if s.pass_at_k:
            lines.append(" · ".join(f"pass@{k} {v:.1%}" for k, v in s.pass_at_k.items()))
        flaky = self._flaky()
        if flaky:
            lines.append(f"flaky tests ({len(flaky)}), passed in some repeats and not others:")
            for name, passed, total in flaky[:FLAKY_SHOWN]:
                low_high = wilson_interval(passed, total)
                band = f", 95% CI {low_high.low:.0%} – {low_high.high:.0%}" if low_high else ""
                lines.append(f"  {name}: {passed} of {total} passed{band}")
            if len(flaky) > FLAKY_SHOWN:
                lines.append(f"  …and {len(flaky) - FLAKY_SHOWN} more")
        elif self.options.repeat > 1:
            lines.append("no flaky tests: every test passed in all repeats or in none")
        lines.extend(self.written)
        return lines

    def _flaky(self) -> list[tuple[str, int, int]]:
        counts: dict[str, list[int]] = {}
        for result in self.results:
            entry = counts.setdefault(result.test_case.name, [0, 0])
            entry[0] += result.passed
            entry[1] += 1
        return [(n, p, t) for n, (p, t) in counts.items() if t > 1 and 0 < p < t]

    def write_json(self) -> None:
        path = self.options.json_path
        if path is None:
            return
        from aifactory.reports.json_report import write_json

        metadata = self.options.metadata
        head = {"suite": self.options.suite, "agent": self.agent_name, "metadata": metadata}
        meta = {"suite": self.options.suite, "agent": self.agent_name, "source": "pytest"}
        with path.open("w", encoding="utf-8") as out:
            write_json(out, self.results, self.summary(), meta=meta, head=head)
        self.written.append(f"run written to {path}")

    def write_server(self) -> None:
        """Store the run on ``--aifactory-url`` as a run of the agent (its id), if it has one."""
        if not self.results:
            return
        import httpx

        from aifactory.client import APIStatusError, Client

        url = self.options.url
        agent = self.options.agent if self.remote else (self._spec.id if self._spec else None)
        if not agent:
            self.written.append(
                f"error: the run was not written to {url}: give the agent file an 'id' (the "
                "stored agent's)"
            )
            return
        metadata = {"suite": self.options.suite, "source": "pytest", **self.options.metadata}
        try:
            with Client(url, api_key=self.options.key) as client:
                run = client.import_run(agent, self.results, name="pytest", metadata=metadata)
        except (APIStatusError, httpx.HTTPError) as exc:
            self.written.append(f"error: the run was not written to {url}: {exc}")
            return
        self.written.append(f"run written to {url} as run {run.run_id}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._loop is None:
            return
        runner, parts_cm = self._runner, self._parts_cm
        self._runner = self._parts = self._parts_cm = None

        async def shut() -> None:
            if runner is not None:
                await runner.agent.aclose()
            if parts_cm is not None:
                await parts_cm.__aexit__(None, None, None)

        try:
            self._call(shut())
        finally:
            self._loop.close()
            self._loop = None


_STANDALONE: list[PluginSession] = []


def standalone() -> PluginSession:
    """A session without an agent, for checks in tests that do not use ``aifactory_agent``."""
    if not _STANDALONE:
        session = PluginSession(Options())
        _STANDALONE.append(session)
        atexit.register(session.close)
    return _STANDALONE[0]


@dataclass(slots=True)
class AgentHandle:
    """The agent as one test sees it: each reply and check is recorded on the test's case."""

    session: PluginSession
    name: str
    case_index: int
    repeat_index: int
    checks: list[CheckResult] = field(default_factory=list)
    replies: list[AgentReply] = field(default_factory=list)
    last_case: TestCase | None = None
    ran: TestResult | None = None

    def __call__(self, input: str | list[Mapping[str, str] | Message], **vars: Any) -> Reply:
        """The agent's reply to ``input`` (a message, or a conversation as role/content)."""
        case = TestCase(name=self.name, input=input, vars=vars)
        self.last_case = case
        reply = self.session.reply(case, self.repeat_index)
        self.replies.append(reply)
        return Reply(output=reply.output, case=case, reply=reply, handle=self)

    def run(self, case: TestCase | Mapping[str, Any]) -> TestResult:
        """Run a suite's case with its checks; the result (assert on ``result.passed``)."""
        parsed = case if isinstance(case, TestCase) else TestCase.model_validate(dict(case))
        result = self.session.run_case(
            parsed, case_index=self.case_index, repeat_index=self.repeat_index
        )
        self.ran = result
        self.last_case = parsed
        self.checks.extend(result.checks)
        return result

    def __repr__(self) -> str:
        return f"<aifactory agent {self.session.agent_name} in {self.name}>"

    def record_check(self, result: CheckResult) -> None:
        self.checks.append(result)

    def finish(self, report: pytest.TestReport, excinfo: pytest.ExceptionInfo[Any] | None) -> None:
        """Turn the test's outcome into its result in the run (a skipped test is none)."""
        if report.skipped:
            return
        if report.passed:
            status = "passed"
        elif (
            report.when == "call" and excinfo is not None and excinfo.errisinstance(AssertionError)
        ):
            status = "failed"
        else:
            status = "error"
        passed = status == "passed"
        message = excinfo.exconly()[:FEEDBACK_CHARS] if excinfo is not None and not passed else ""
        ran = self.ran
        score = 1.0 if passed else 0.0
        if ran is not None and ran.passed == passed:
            score = ran.score
        case = (self.last_case or TestCase(name=self.name, input="")).model_copy(
            update={"name": self.name}
        )
        usage = sum((r.usage for r in self.replies), Usage())
        judge = sum((c.usage for c in self.checks if c.usage is not None), Usage())
        if ran is not None:
            usage = usage + ran.usage
        latencies = [r.latency_ms for r in self.replies]
        if ran is not None and ran.latency_ms is not None:
            latencies.append(ran.latency_ms)
        last = self.replies[-1] if self.replies else None
        output = ran.output if ran is not None else (last.output if last else None)
        self.session.add(
            TestResult(
                agent_id=self.session.agent_name,
                case_index=self.case_index,
                repeat_index=self.repeat_index,
                test_case=case,
                status=status,
                passed=passed,
                score=score,
                feedback=message or (ran.feedback if ran is not None else ""),
                output=output,
                checks=self.checks,
                tool_calls=last.tool_calls if last else [],
                latency_ms=sum(latencies) if latencies else None,
                usage=usage,
                judge_usage=judge,
                error=message if status == "error" else None,
            )
        )
