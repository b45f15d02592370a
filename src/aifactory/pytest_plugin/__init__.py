"""aifactory's pytest plugin: agent tests as ordinary pytest tests, written as a run.

Installed with the package (entry point ``pytest11``: ``aifactory``). It costs a session that
does not use it nothing: this module imports only pytest and the standard library, and every
hook does nothing until a test asks for the :func:`aifactory_agent` fixture.

::

    from aifactory.pytest_plugin import cases, check, expect

    def test_refunds(aifactory_agent):
        reply = aifactory_agent("Can I get a refund after 40 days?")
        expect(reply).contains("30 days").llm_rubric("Politely refuses")
        check(reply, {"type": "not_contains", "value": "sorry"})

    @cases("suite.yaml")
    def test_suite(aifactory_agent, case):
        result = aifactory_agent.run(case)
        assert result.passed, result.feedback

Options: ``--aifactory-agent FILE`` (an agent file; or with ``--aifactory-url`` a stored
agent's id, whose replies come from that server), ``--aifactory-key``, ``--aifactory-repeat K``
(every test that uses the agent runs K times; the summary gives pass@k and the flaky tests),
``--aifactory-json FILE`` (the tests as a run: the ``--json`` document ``aifactory run``
writes, a baseline for ``aifactory compare`` and ``aifactory run --baseline``),
``--aifactory-suite NAME`` (the run's suite name; default the project directory's name) and
``--aifactory-metadata KEY=VALUE``. With ``--aifactory-url`` the run is also written to that
server (``POST /api/v1/runs/import``), as a run of the agent the file's ``id`` or the given id
names: ``--aifactory-metadata branch=main`` makes it what ``--baseline latest`` finds.

Every test that uses ``aifactory_agent`` is one case of the run, named by its pytest id (without
the repeat): passed, failed (an assertion, an ``expect`` or ``check`` that failed) or error
(anything else). At the end the terminal summary gives the pass rate with its 95% interval.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aifactory.domain.models import CheckResult, CheckSpec, TestCase
    from aifactory.pytest_plugin.assertions import Expect, Reply
    from aifactory.pytest_plugin.session import AgentHandle, PluginSession

__all__ = ["cases", "check", "expect"]

_SESSION = pytest.StashKey["PluginSession"]()
_HANDLE = pytest.StashKey["AgentHandle"]()
REPEAT_FIXTURE = "aifactory_repeat"


def expect(reply: Reply | str) -> Expect:
    """Chained checks on a reply: ``expect(reply).contains("30 days").llm_rubric("polite")``.

    Every check type of ``aifactory checks`` is a method (``not_X`` too); the first positional
    argument is the check's first parameter, the rest are keywords (``weight``, ``negate`` and
    the check's own). A check that fails raises ``AssertionError`` with its reason; one that
    cannot run (no judge key, say) raises ``CheckError``.
    """
    from aifactory.pytest_plugin.assertions import Expect

    return Expect(reply)


def check(reply: Reply | str, spec: Mapping[str, Any] | CheckSpec) -> CheckResult:
    """Run one check (``{"type": ..., params}``, as in a suite) on a reply; fail as ``expect``."""
    from aifactory.pytest_plugin.assertions import run_spec

    return run_spec(reply, spec)


def cases(
    suite: str | os.PathLike[str], *, argname: str = "case"
) -> Callable[[Callable[..., Any]], Any]:
    """Parametrize a test with the cases of a suite file (relative to the test's file).

    Each case becomes one test, with the case's name as its id; pass it to
    ``aifactory_agent.run(case)``, which runs it with its checks.
    """
    import sys

    from aifactory.domain.suites import load_suite

    path = Path(suite)
    if not path.is_absolute():
        caller = sys._getframe(1).f_code.co_filename
        path = Path(caller).resolve().parent / path
    loaded: list[TestCase] = list(load_suite(path).test_cases)
    return pytest.mark.parametrize(argname, loaded, ids=[c.name for c in loaded])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aifactory", "aifactory: agent tests")
    group.addoption(
        "--aifactory-agent",
        metavar="FILE_OR_ID",
        help="the agent under test: an agent file, or with --aifactory-url a stored agent's id",
    )
    group.addoption(
        "--aifactory-url",
        metavar="URL",
        help="an aifactory server whose stored agent (--aifactory-agent ID) answers",
    )
    group.addoption("--aifactory-key", metavar="KEY", help="the server's API key")
    group.addoption(
        "--aifactory-repeat",
        type=int,
        default=1,
        metavar="K",
        help="run every test that uses aifactory_agent K times; report pass@k and flaky tests",
    )
    group.addoption(
        "--aifactory-json",
        metavar="FILE",
        help="write the tests as a run (a baseline for 'aifactory compare' and '--baseline')",
    )
    group.addoption(
        "--aifactory-suite",
        metavar="NAME",
        help="the run's suite name (default: the project directory's name)",
    )
    group.addoption(
        "--aifactory-metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata of the run written (repeatable): branch=main makes it a baseline 'latest'",
    )


def pytest_configure(config: pytest.Config) -> None:
    repeat = config.getoption("aifactory_repeat")
    if repeat < 1:
        raise pytest.UsageError("--aifactory-repeat must be 1 or more.")
    for item in config.getoption("aifactory_metadata"):
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise pytest.UsageError(
                f"--aifactory-metadata takes KEY=VALUE (like branch=main), not {item!r}."
            )


def _session(config: pytest.Config) -> PluginSession:
    session = config.stash.get(_SESSION, None)
    if session is None:
        from aifactory.pytest_plugin.session import PluginSession

        session = PluginSession.from_config(config)
        config.stash[_SESSION] = session
    return session


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Last, so the repeat is the last part of a test's id (the run's case name drops it).
    repeat = metafunc.config.getoption("aifactory_repeat")
    if repeat > 1 and REPEAT_FIXTURE in metafunc.fixturenames:
        metafunc.parametrize(
            REPEAT_FIXTURE, range(repeat), indirect=True, ids=[f"repeat{i}" for i in range(repeat)]
        )


@pytest.fixture
def aifactory_repeat(request: pytest.FixtureRequest) -> int:
    """Which repeat of the test this is (0 without ``--aifactory-repeat``)."""
    return int(getattr(request, "param", 0))


@pytest.fixture
def aifactory_agent(request: pytest.FixtureRequest, aifactory_repeat: int) -> Iterator[AgentHandle]:
    """The agent under test (``--aifactory-agent``): call it with an input to get its reply,
    or ``.run(case)`` a suite's case with its checks. The test becomes a case of the run."""
    from aifactory.pytest_plugin.assertions import active

    session = _session(request.config)
    handle = session.handle(request.node, repeat_index=aifactory_repeat)
    request.node.stash[_HANDLE] = handle
    with active(handle):
        yield handle


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    handle = item.stash.get(_HANDLE, None)
    if handle is not None and (report.when == "call" or (report.failed and report.when == "setup")):
        handle.finish(report, call.excinfo)
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    lines = session.summary_lines() if session is not None else []
    if lines:
        terminalreporter.write_sep("=", "aifactory")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.getoption("aifactory_json"):
        _session(session.config).write_json()
    plugin_session = session.config.stash.get(_SESSION, None)
    if plugin_session is not None and session.config.getoption("aifactory_url"):
        plugin_session.write_server()
