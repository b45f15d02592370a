"""Settings from the environment (and ``.env``), built by :func:`load_settings` and passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import AliasChoices, Field, PrivateAttr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

DEFAULT_JUDGE_MODEL = "anthropic:claude-sonnet-4-6"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./aifactory.db"


def default_database_url(data_dir: str | None = None) -> str:
    """The SQLite file used when no database is configured: ``aifactory.db`` in ``data_dir``."""
    if not data_dir:
        return DEFAULT_DATABASE_URL
    return f"sqlite+aiosqlite:///{os.path.join(data_dir, 'aifactory.db')}"


class Settings(BaseSettings):
    """Every setting of the service, the command line and the engine."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    supabase_db_url: str | None = Field(default=None, validation_alias="SUPABASE_DB_URL")
    database_prepared_statements: bool = Field(
        default=True, validation_alias="AIFACTORY_DB_PREPARED_STATEMENTS"
    )
    data_dir: str | None = Field(default=None, validation_alias="AIFACTORY_DATA_DIR")
    """Where the default SQLite file ``aifactory.db`` lives (default: the working directory)."""
    supabase_url: str | None = Field(default=None, validation_alias="SUPABASE_URL")
    supabase_key: str | None = Field(default=None, validation_alias="SUPABASE_KEY")
    supabase_service_role_key: str | None = Field(
        default=None, validation_alias="SUPABASE_SERVICE_ROLE_KEY"
    )
    """The original deployment's Supabase REST settings: read only to say they cannot be used as
    a database (``SUPABASE_DB_URL`` is the one that can)."""
    seed_demo: bool = Field(default=False, validation_alias="AIFACTORY_SEED_DEMO")
    """Seed the demo agent and suite into an empty database on start (gunicorn, ``main:app``)."""

    anthropic_api_key: str | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(default=None, validation_alias="ANTHROPIC_BASE_URL")
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")

    judge_model: str = Field(default=DEFAULT_JUDGE_MODEL, validation_alias="AIFACTORY_JUDGE_MODEL")
    reflector_model: str = Field(
        default=DEFAULT_JUDGE_MODEL, validation_alias="AIFACTORY_REFLECTOR_MODEL"
    )
    """The reflection loop's model (``provider:model``), unless a reflection names its own."""
    simulator_model: str | None = Field(default=None, validation_alias="AIFACTORY_SIMULATOR_MODEL")
    """The simulated user's model (``provider:model``) unless a case names its own; default:
    the judge's."""
    llm_max_attempts: int = Field(
        default=4, ge=1, le=20, validation_alias="AIFACTORY_LLM_MAX_ATTEMPTS"
    )
    llm_backoff_base_s: float = Field(default=0.5, ge=0, validation_alias="AIFACTORY_LLM_BACKOFF_S")
    llm_backoff_max_s: float = Field(
        default=30.0, ge=0, validation_alias="AIFACTORY_LLM_BACKOFF_MAX_S"
    )
    llm_timeout_s: float = Field(default=120.0, gt=0, validation_alias="AIFACTORY_LLM_TIMEOUT_S")
    llm_max_concurrency: int = Field(
        default=32, ge=1, validation_alias="AIFACTORY_LLM_MAX_CONCURRENCY"
    )
    prices: dict[str, dict[str, float]] = Field(
        default_factory=dict, validation_alias="AIFACTORY_PRICES"
    )
    """Extra model prices: ``{"model": {"input": usd_per_mtok, "output": usd_per_mtok}}``."""

    api_keys: str | None = Field(default=None, validation_alias="AIFACTORY_API_KEYS")
    auth: Literal["required", "disabled"] = Field(
        default="required", validation_alias="AIFACTORY_AUTH"
    )
    allowed_agent_hosts: str = Field(default="", validation_alias="AIFACTORY_ALLOWED_AGENT_HOSTS")
    agent_env: str | None = Field(default=None, validation_alias="AIFACTORY_AGENT_ENV")
    """Environment variables agent configs may read as ``${env:NAME}``: comma-separated names,
    ``PREFIX_*`` for a prefix; none when unset. The server's own settings are never readable."""
    queue_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AIFACTORY_QUEUE_URL", "REDIS_URL")
    )
    lease_s: float = Field(default=30.0, gt=0, validation_alias="AIFACTORY_LEASE_S")
    queue_name: str = Field(
        default="aifactory", min_length=1, max_length=200, validation_alias="AIFACTORY_QUEUE_NAME"
    )
    """The stream (Redis) or queue and exchange (RabbitMQ) the distributed queue uses."""
    queue_max_depth: int = Field(default=10_000, ge=1, validation_alias="AIFACTORY_QUEUE_MAX_DEPTH")
    """Chunks the distributed queue may hold before batch submission answers 503."""
    batch_runner: Literal["inline", "process"] = Field(
        default="inline", validation_alias="AIFACTORY_BATCH_RUNNER"
    )
    """Where an embedded server (no ``AIFACTORY_QUEUE_URL``) runs batch cases: ``inline``, in each
    server process's event loop, or ``process``, in one batch runner process beside the server
    processes, at a lower CPU priority, so cases never take CPU from requests. gunicorn (with
    ``gunicorn.conf.py``) and ``aifactory serve --workers N`` start that process and choose
    ``process`` unless this is set."""
    batch_runner_nice: int | None = Field(
        default=None, ge=0, le=19, validation_alias="AIFACTORY_BATCH_RUNNER_NICE"
    )
    """How much lower the batch runner's CPU priority is than the server's (``nice``, 0-19).

    Unset: 10 on PostgreSQL, 0 on SQLite, whose one write lock a runner would hold at the lower
    priority while every server process waits for it (see :attr:`runner_nice`)."""
    limits_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AIFACTORY_LIMITS_URL", "REDIS_URL")
    )
    """Redis for agent limits shared by every worker (default: the queue's, when it is Redis)."""
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, validation_alias="AIFACTORY_MAX_BODY_BYTES"
    )
    regex_timeout_s: float = Field(default=1.0, gt=0, validation_alias="AIFACTORY_REGEX_TIMEOUT_S")
    cache_dir: str = Field(default=".aifactory-cache", validation_alias="AIFACTORY_CACHE_DIR")

    server_host: str = Field(default="127.0.0.1", validation_alias="SERVER_HOST")
    server_port: int = Field(default=8000, ge=1, le=65535, validation_alias="SERVER_PORT")
    gunicorn_workers: int | None = Field(default=None, validation_alias="GUNICORN_WORKERS")
    gunicorn_timeout: int = Field(default=120, validation_alias="GUNICORN_TIMEOUT")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="LOG_FORMAT")
    cors_origins: str = Field(default="", validation_alias="AIFACTORY_CORS_ORIGINS")
    session_secret: str | None = Field(default=None, validation_alias="AIFACTORY_SESSION_SECRET")
    """Signs dashboard sessions and CSRF tokens (at least 32 characters, the same value on every
    process). Required when the server requires API keys and listens beyond loopback; a loopback
    server without it makes one in ``AIFACTORY_CACHE_DIR``."""
    auth_failures_per_minute: int = Field(
        default=20, ge=0, validation_alias="AIFACTORY_AUTH_FAILURES_PER_MINUTE"
    )
    """Failed authentications a client address may make per minute and process before its
    requests without a valid key are answered 429; 0 turns the throttle off."""
    rate_limit_per_minute: int = Field(
        default=120_000, ge=0, validation_alias="AIFACTORY_RATE_LIMIT_PER_MINUTE"
    )
    """Requests per minute per API key and process; 0 turns the limit off."""
    single_process: bool = Field(default=True, validation_alias="AIFACTORY_SINGLE_PROCESS")
    """Whether this is the only process working on the database's batches (embedded mode).

    ``aifactory serve --workers N`` and gunicorn set it false: then a restarted process does not
    take over claims that may belong to a live sibling, and waits for their leases to run out.
    """
    shutdown_grace_s: float = Field(
        default=10.0, ge=0, validation_alias="AIFACTORY_SHUTDOWN_GRACE_S"
    )
    case_timeout_s: float = Field(default=120.0, gt=0, validation_alias="AIFACTORY_CASE_TIMEOUT_S")
    conversation_timeout_s: float = Field(
        default=600.0, gt=0, validation_alias="AIFACTORY_CONVERSATION_TIMEOUT_S"
    )
    """A whole conversation's time limit (each of its turns also has ``case_timeout_s``)."""

    _database_defaulted: bool = PrivateAttr(default=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _environ.get()
        if environ is not None and isinstance(env_settings, EnvSettingsSource):
            # The mapping given to load_settings stands in for os.environ, read the same way.
            env_settings.env_vars = parse_env_vars(
                environ,
                env_settings.case_sensitive,
                env_settings.env_ignore_empty,
                env_settings.env_parse_none_str,
            )
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _database_fallback(self) -> Settings:
        if not self.database_url:
            self._database_defaulted = not self.supabase_db_url
            self.database_url = self.supabase_db_url or default_database_url(self.data_dir)
        return self

    @property
    def database_defaulted(self) -> bool:
        """Whether neither ``DATABASE_URL`` nor ``SUPABASE_DB_URL`` was given (SQLite is used)."""
        return self._database_defaulted

    @property
    def database(self) -> str:
        """The SQLAlchemy URL in force."""
        return self.database_url or DEFAULT_DATABASE_URL

    @property
    def runner_nice(self) -> int:
        """The niceness the batch runner takes: :attr:`batch_runner_nice`, or the backend's."""
        if self.batch_runner_nice is not None:
            return self.batch_runner_nice
        return 0 if self.database.startswith("sqlite") else 10

    def allowed_hosts(self) -> list[str]:
        """``AIFACTORY_ALLOWED_AGENT_HOSTS`` as a list."""
        return [h.strip() for h in self.allowed_agent_hosts.split(",") if h.strip()]

    def agent_env_names(self) -> list[str]:
        """``AIFACTORY_AGENT_ENV`` as a list of names and ``PREFIX_*`` patterns."""
        return [n.strip() for n in (self.agent_env or "").split(",") if n.strip()]


_environ: ContextVar[Mapping[str, str] | None] = ContextVar("aifactory_environ", default=None)
"""The mapping :func:`load_settings` reads in this thread or task, when one was given."""


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``environ`` (default: the process environment) and ``.env``.

    Tests pass a dict so the process environment never leaks in: the mapping stands in for
    ``os.environ`` and ``.env`` (both left untouched), for this call only.
    """
    if environ is None:
        return Settings(**overrides)
    token = _environ.set(environ)
    try:
        return Settings(_env_file=None, **overrides)
    finally:
        _environ.reset(token)
