"""The parent's side of the batch runner: started once, started again when it dies, stopped."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aifactory.queue.runner_process import RunnerProcess, runner_command


def wait_for(check: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def sleeper(marker: Path) -> list[str]:
    """A child that writes its pid and AIFACTORY_BATCH_RUNNER to ``marker``, then sleeps."""
    code = (
        "import os, sys, time; "
        "mode = os.environ['AIFACTORY_BATCH_RUNNER']; "
        "open(sys.argv[1], 'a').write(f'{os.getpid()} {mode}\\n'); "
        "time.sleep(60)"
    )
    return [sys.executable, "-c", code, str(marker)]


def test_the_runner_command_is_this_python_running_the_hidden_command() -> None:
    assert runner_command() == [sys.executable, "-m", "aifactory", "batch-runner"]


def test_a_runner_that_dies_is_started_again_until_it_is_stopped(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    runner = RunnerProcess(sleeper(marker), env={"AIFACTORY_BATCH_RUNNER": "inline"})
    runner.start()
    try:
        wait_for(lambda: marker.exists() and marker.read_text().count("\n") == 1)
        first = runner.pid
        assert first is not None
        # It always runs as the process runner, whatever the parent's environment said.
        assert marker.read_text() == f"{first} process\n"

        os.kill(first, signal.SIGKILL)
        wait_for(lambda: marker.read_text().count("\n") == 2)
        second = runner.pid
        assert second is not None and second != first
        assert runner.starts == 2
    finally:
        status = runner.stop(grace_s=5)
    assert status == -signal.SIGTERM
    assert runner.pid is None
    time.sleep(1.5)  # longer than the restart pause: nothing comes back after a stop
    assert runner.starts == 2
    assert marker.read_text().count("\n") == 2


def test_stopping_a_runner_never_started_does_nothing() -> None:
    assert RunnerProcess([sys.executable, "-c", "pass"]).stop() is None


@pytest.mark.parametrize("nice", ["-1", "20", "ten"])
def test_a_niceness_out_of_range_is_refused(nice: str) -> None:
    from pydantic import ValidationError

    from aifactory.settings import load_settings

    with pytest.raises(ValidationError, match="AIFACTORY_BATCH_RUNNER_NICE"):
        load_settings({"AIFACTORY_BATCH_RUNNER_NICE": nice})


def test_an_unknown_batch_runner_is_refused() -> None:
    from pydantic import ValidationError

    from aifactory.settings import load_settings

    with pytest.raises(ValidationError, match="AIFACTORY_BATCH_RUNNER"):
        load_settings({"AIFACTORY_BATCH_RUNNER": "thread"})
