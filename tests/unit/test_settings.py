"""Settings read from a mapping: parsed as the environment is, without touching ``os.environ``."""

from __future__ import annotations

import os
import threading

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from aifactory.settings import DEFAULT_DATABASE_URL, load_settings

ONLY_IN_PROCESS = "AIFACTORY_JUDGE_MODEL"


@pytest.fixture
def process_value(monkeypatch: pytest.MonkeyPatch) -> str:
    """A setting present in the process environment and absent from every mapping below."""
    monkeypatch.setenv(ONLY_IN_PROCESS, "openai:from-the-process")
    return "openai:from-the-process"


def test_a_mapping_is_parsed_as_the_environment_is() -> None:
    settings = load_settings(
        {
            "AIFACTORY_PRICES": '{"m": {"input": 1, "output": 2}}',
            "aifactory_single_process": "false",
            "REDIS_URL": "redis://shared",
            "AIFACTORY_QUEUE_URL": "redis://queue",
            "AIFACTORY_ALLOWED_AGENT_HOSTS": "a, b,,c",
            "SERVER_PORT": "81",
        },
        log_level="DEBUG",
    )
    assert settings.prices == {"m": {"input": 1.0, "output": 2.0}}
    assert settings.single_process is False
    assert settings.queue_url == "redis://queue"
    assert settings.limits_url == "redis://shared"
    assert settings.allowed_hosts() == ["a", "b", "c"]
    assert settings.server_port == 81
    assert settings.log_level == "DEBUG"
    assert settings.database == DEFAULT_DATABASE_URL
    assert settings.database_defaulted


class ReadOnlyEnviron(dict[str, str]):
    """``os.environ`` as a mapping that refuses every change."""

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("os.environ was changed")

    __setitem__ = __delitem__ = clear = update = pop = popitem = setdefault = _refuse  # type: ignore[assignment]


def test_the_process_environment_is_neither_read_nor_changed(
    process_value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = dict(os.environ)
    with monkeypatch.context() as patch:
        patch.setattr(os, "environ", ReadOnlyEnviron(os.environ))
        settings = load_settings({"LOG_LEVEL": "WARNING"})
        with pytest.raises(ValidationError):
            load_settings({"SERVER_PORT": "99999"})
    assert settings.judge_model != process_value
    assert settings.log_level == "WARNING"
    assert dict(os.environ) == before
    assert load_settings().judge_model == process_value


@pytest.mark.parametrize(
    ("environ", "error"),
    [
        ({"SERVER_PORT": "99999"}, ValidationError),
        ({"AIFACTORY_SINGLE_PROCESS": "maybe"}, ValidationError),
        ({"AIFACTORY_PRICES": "not json"}, SettingsError),
    ],
)
def test_a_bad_value_is_refused_and_leaves_the_environment_alone(
    process_value: str, environ: dict[str, str], error: type[Exception]
) -> None:
    before = dict(os.environ)
    with pytest.raises(error):
        load_settings(environ)
    assert dict(os.environ) == before


def test_concurrent_calls_each_read_their_own_mapping(process_value: str) -> None:
    barrier = threading.Barrier(8)
    seen: dict[int, tuple[str, int]] = {}

    def load(n: int) -> None:
        barrier.wait()
        for _ in range(20):
            settings = load_settings(
                {"AIFACTORY_JUDGE_MODEL": f"p:m{n}", "SERVER_PORT": str(n + 1)}
            )
            assert (settings.judge_model, settings.server_port) == (f"p:m{n}", n + 1)
        seen[n] = (settings.judge_model, settings.server_port)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {n: (f"p:m{n}", n + 1) for n in range(8)}
    assert os.environ[ONLY_IN_PROCESS] == process_value


@pytest.mark.parametrize(
    ("env", "nice"),
    [
        ({}, 0),  # the default database is a SQLite file
        ({"DATABASE_URL": "sqlite+aiosqlite:///x.db"}, 0),
        ({"DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1/db"}, 10),
        ({"DATABASE_URL": "postgres://u@127.0.0.1/db"}, 10),
        ({"DATABASE_URL": "sqlite+aiosqlite:///x.db", "AIFACTORY_BATCH_RUNNER_NICE": "5"}, 5),
        ({"DATABASE_URL": "postgres://u@127.0.0.1/db", "AIFACTORY_BATCH_RUNNER_NICE": "0"}, 0),
    ],
)
def test_the_batch_runner_is_niced_on_postgres_and_not_on_sqlite_unless_told(
    env: dict[str, str], nice: int
) -> None:
    assert load_settings(env).runner_nice == nice
