"""EnvPolicy: which ``${env:NAME}`` a config may read, found at any depth of a config."""

from __future__ import annotations

import pytest

from aifactory.agents.env import EnvPolicy, EnvReference, is_server_setting, references
from aifactory.errors import AgentError, ConfigError
from aifactory.settings import load_settings


def test_nothing_is_allowed_by_default() -> None:
    policy = EnvPolicy.from_settings(load_settings({}))
    assert not policy.allows("TEAM_TOKEN")
    message = policy.refusal("TEAM_TOKEN", where="config.headers.X-Team")
    assert message is not None
    assert "config.headers.X-Team reads ${env:TEAM_TOKEN}" in message
    assert "AIFACTORY_AGENT_ENV does not allow" in message


def test_names_and_prefixes() -> None:
    policy = EnvPolicy.from_settings(
        load_settings({"AIFACTORY_AGENT_ENV": " TEAM_TOKEN , BOT_* ,"})
    )
    assert policy.allows("TEAM_TOKEN")
    assert policy.allows("BOT_A") and policy.allows("BOT_")
    assert not policy.allows("TEAM_TOKEN_2")
    assert not policy.allows("team_token")  # environment names are case-sensitive
    assert not policy.allows("ROBOT_A")


@pytest.mark.parametrize(
    "name",
    [
        "AIFACTORY_API_KEYS",
        "AIFACTORY_SESSION_SECRET",
        "DATABASE_URL",
        "SUPABASE_DB_URL",
        "REDIS_URL",
        "AIFACTORY_QUEUE_URL",
        "AIFACTORY_LIMITS_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "PGPASSWORD",
        "database_url",
        "Aifactory_Api_Keys",
        "AIFACTORY_ANYTHING_NEW",
    ],
)
def test_the_servers_own_settings_are_refused_whatever_is_allowed(name: str) -> None:
    assert is_server_setting(name)
    for allowed in (["*"], [name], [name[:3] + "*"]):
        message = EnvPolicy(allowed).refusal(name, where="config.url")
        assert message is not None
        assert "one of the server's own settings" in message


def test_every_settings_variable_is_a_server_setting() -> None:
    # Derived from Settings, so a setting added later is covered without a list to update.
    from aifactory.settings import Settings

    for field_name, info in Settings.model_fields.items():
        assert is_server_setting(field_name), field_name
        alias = info.validation_alias
        names = getattr(alias, "choices", [alias])
        assert all(is_server_setting(n) for n in names if isinstance(n, str)), field_name


def test_agent_names_are_not_server_settings() -> None:
    assert not any(is_server_setting(n) for n in ("TEAM_TOKEN", "SUPPORT_BOT_TOKEN", "MY_KEY"))


@pytest.mark.parametrize("entry", ["TEAM-TOKEN", "TEAM*X", "**", "1ABC", "${env:X}"])
def test_a_malformed_entry_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="AIFACTORY_AGENT_ENV entry"):
        EnvPolicy([entry])


def test_references_are_found_at_any_depth_keys_included() -> None:
    config = {
        "url": "https://x/${env:A}?k=${env:B}",
        "headers": {"Authorization": "Bearer ${env:C}", "${env:D}": "v"},
        "body": {"a": [{"b": "${env:E}"}, 1, None, "plain"]},
        "timeout_s": 5,
        "broken": "${env:lower-case} ${env:} $env:F",
    }
    assert list(references(config)) == [
        EnvReference("config.url", "A"),
        EnvReference("config.url", "B"),
        EnvReference("config.headers.Authorization", "C"),
        EnvReference("config.headers.${env:D}", "D"),
        EnvReference("config.body.a[0].b", "E"),
    ]


def test_refusals_name_each_field() -> None:
    policy = EnvPolicy(["TEAM_*"])
    config = {"api_key": "${env:TEAM_KEY}", "headers": {"X": "${env:OPENAI_API_KEY} ${env:OTHER}"}}
    refused = policy.refusals(config)
    assert [(r.field, r.name) for r in refused] == [
        ("config.headers.X", "OPENAI_API_KEY"),
        ("config.headers.X", "OTHER"),
    ]


def test_read_at_call_time() -> None:
    environ = {"TEAM_TOKEN": "t1", "OPENAI_API_KEY": "sk-server"}
    policy = EnvPolicy(["TEAM_*", "OPENAI_*"], environ=environ)
    assert policy.read("TEAM_TOKEN", where="header 'X'") == "t1"
    environ["TEAM_TOKEN"] = "t2"
    assert policy.read("TEAM_TOKEN", where="header 'X'") == "t2"
    with pytest.raises(AgentError, match="TEAM_MISSING, which is not set"):
        policy.read("TEAM_MISSING", where="header 'X'")
    with pytest.raises(AgentError, match="server's own settings") as refused:
        policy.read("OPENAI_API_KEY", where="header 'X'")
    assert "sk-server" not in str(refused.value)
    assert "Nothing was sent." in str(refused.value)
