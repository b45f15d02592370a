"""The Docker image's start without Docker: its environment, user and files, rebuilt from the file.

No Docker daemon runs here and no base image can be pulled, so the runtime stage of the
Dockerfile is read instead: its ENV, WORKDIR, the files it copies, the directories it makes for
the app user, and its CMD. They are laid out under a temporary directory (``/app`` and ``/tmp``
moved there) as the image's user sees them: the working directory read-only (it belongs to root
in the image), the app user's directories writable. The working directory is made read-only with
``chmod`` or, when the tests run as root (whom permission bits do not stop), ``chattr +i``. Then
the image's own start command runs there with the image's environment and nothing else. Only
what the Dockerfile says is used, so a change to it is tested here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.fakes.gunicorn_process import ROOT, running
from tests.fakes.prerequisites import require_extra, unavailable
from tests.fakes.server_process import server_env

DOCKERFILE = ROOT / "Dockerfile"
_KEY = re.compile(r"afk_[A-Za-z0-9_-]{20,}")
_MADE_FOR_APP = re.compile(r"install -d -o (\S+) -g (\S+)(?: -m \d+)? (\S+)")


@dataclass
class Runtime:
    """What the image's last stage sets up, as its Dockerfile says."""

    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: int = 0
    copied: list[str] = field(default_factory=list)
    app_dirs: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile, continuation lines joined, comments out."""
    joined: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined]


def runtime_stage() -> Runtime:
    stages: list[list[tuple[str, str]]] = []
    for name, args in instructions(DOCKERFILE.read_text()):
        if name == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((name, args))
    runtime = Runtime()
    for name, args in stages[-1]:
        if name == "ENV":
            for part in shlex.split(args):
                name_, _, value = part.partition("=")
                runtime.env[name_] = value
        elif name == "WORKDIR":
            runtime.workdir = args
        elif name == "USER":
            runtime.user = int(args.split(":")[0])
        elif name == "COPY" and not args.startswith("--from"):
            *sources, target = [a for a in shlex.split(args) if not a.startswith("--")]
            assert target == "./", f"COPY into {target} is not laid out by this test"
            runtime.copied += sources
        elif name == "RUN":
            runtime.app_dirs += [m[3] for m in _MADE_FOR_APP.finditer(args) if m[1] == "app"]
        elif name == "CMD":
            runtime.cmd = json.loads(args)
    return runtime


@dataclass
class Image:
    """The runtime stage laid out under ``root``, and how to run a command as in the image."""

    runtime: Runtime
    root: Path

    def here(self, path: str) -> Path:
        """Where an absolute path of the image is in this layout (only /app and /tmp are)."""
        for top in ("/app", "/tmp"):
            if path == top or path.startswith(top + "/"):
                return self.root / path.lstrip("/")
        raise AssertionError(f"the image uses {path}, which this test does not lay out")

    @property
    def workdir(self) -> Path:
        return self.here(self.runtime.workdir)

    def env(self, **overrides: str) -> dict[str, str]:
        """The image's environment (its paths moved here) plus ``overrides``; HOME as Docker's."""
        moved = {
            name: str(self.here(value)) if value.startswith("/") else value
            for name, value in self.runtime.env.items()
        }
        return server_env(**{**moved, "HOME": str(self.workdir), **overrides})


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """No new file in ``directory`` for this process, root or not, during the block."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        unavailable("chattr is not installed (root ignores permission bits)", "install e2fsprogs")
    made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
    if made.returncode != 0:
        unavailable(f"chattr +i failed here ({made.stderr.strip()})", "run the tests as non-root")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


@pytest.fixture
def image(tmp_path: Path) -> Iterator[Image]:
    require_extra("deploy", "gunicorn", "uvicorn_worker")
    runtime = runtime_stage()
    built = Image(runtime, tmp_path / "image")
    built.here("/tmp").mkdir(parents=True)
    built.workdir.mkdir(parents=True, exist_ok=True)
    for source in runtime.copied:
        shutil.copy(ROOT / source, built.workdir / source)
    for directory in runtime.app_dirs:
        built.here(directory).mkdir(parents=True, exist_ok=True)
    with read_only(built.workdir):
        yield built


def start_once(image: Image, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The image's start command run to its end (for starts that must refuse at once)."""
    return subprocess.run(
        [sys.executable, "-m", *image.runtime.cmd],
        cwd=image.workdir,
        env={**env, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_the_dockerfile_gives_the_app_user_a_data_directory_and_copies_main_py() -> None:
    runtime = runtime_stage()
    assert runtime.env["AIFACTORY_DATA_DIR"] in runtime.app_dirs
    # SUPABASE_DB_URL must be able to choose the database: the image sets no DATABASE_URL.
    assert "DATABASE_URL" not in runtime.env
    assert {"gunicorn.conf.py", "main.py"} <= set(runtime.copied)
    assert runtime.user != 0
    assert runtime.cmd == ["gunicorn", "-c", "gunicorn.conf.py"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "app", [None, "main:app"], ids=["the image's CMD", "the original's gunicorn main:app"]
)
def test_the_image_starts_with_nothing_but_its_defaults(image: Image, app: str | None) -> None:
    command = list(image.runtime.cmd)
    if app is not None:
        command.insert(1, app)
    with running(command, image.root, image.env(), cwd=image.workdir) as server:
        printed = _KEY.findall(server.stdout)
        assert len(printed) == 1, server.output()
        health = httpx.get(f"{server.url}/health", timeout=10)
        keys = httpx.get(
            f"{server.url}/api/v1/keys",
            headers={"Authorization": f"Bearer {printed[0]}"},
            timeout=10,
        )
        output = server.output()
    assert health.status_code == 200
    assert health.json()["database"] == "ok"
    assert keys.status_code == 200
    data = image.here(image.runtime.env["AIFACTORY_DATA_DIR"])
    assert (data / "aifactory.db").is_file()
    assert "unable to open database file" not in output
    assert "Traceback" not in output


@pytest.mark.slow
def test_a_read_only_working_directory_is_one_line_naming_the_path_and_the_fix(
    image: Image,
) -> None:
    # The image as it was: no data directory, so SQLite would go to the working directory.
    result = start_once(image, image.env(AIFACTORY_DATA_DIR=""))
    assert result.returncode == 2, result.stdout + result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    database = image.workdir / "aifactory.db"
    assert errors[0].startswith(f"error: The SQLite database {database} cannot be created:")
    assert f"the directory {image.workdir} is not writable by this user" in errors[0]
    assert "Set AIFACTORY_DATA_DIR to a writable directory" in errors[0]
    assert "Traceback" not in result.stderr
    assert not database.exists()


@pytest.mark.slow
def test_supabase_rest_settings_without_a_database_url_refuse_in_one_line(image: Image) -> None:
    env = image.env(
        SUPABASE_URL="https://abc.supabase.co",
        SUPABASE_KEY="anon-key-value",
        SUPABASE_SERVICE_ROLE_KEY="service-role-value",
    )
    result = start_once(image, env)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(
        "error: SUPABASE_URL, SUPABASE_KEY and SUPABASE_SERVICE_ROLE_KEY are set but no database is"
    )
    assert "Set SUPABASE_DB_URL to the PostgreSQL connection string" in errors[0]
    assert "Supabase dashboard → Connect" in errors[0]
    output = result.stdout + result.stderr
    assert "anon-key-value" not in output and "service-role-value" not in output
    assert "Traceback" not in output
    # Nothing was made: no SQLite file in the data directory.
    assert not list(image.here(image.runtime.env["AIFACTORY_DATA_DIR"]).iterdir())
