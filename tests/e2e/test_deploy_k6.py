"""``performance-test.js``'s setup() and one iteration, run by node against real and fake servers.

k6 itself cannot be installed here (npm's ``k6`` is an empty placeholder for editors; the real
k6 is a Go program under the AGPL). The script is plain JavaScript apart from its k6 imports, so
node runs it with stand-ins for ``k6``, ``k6/http`` and ``k6/metrics`` (tests/fakes/k6): the
requests are real, synchronous as in k6, and sent to a server of the test on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.gunicorn_process import ROOT, gunicorn_env, running_gunicorn
from tests.fakes.prerequisites import unavailable
from tests.fakes.server_process import ServerProcess

K6_SCRIPT = ROOT / "performance-test.js"
SHIM = Path(__file__).resolve().parents[1] / "fakes" / "k6"
KEY = "afk_e2e-k6-setup-admin-key-0123456789abcdefghij"
OWN_AGENT = "k6-support-bot"


@dataclass
class K6Run:
    """What node reported: setup's (or an iteration's) error, the requests, the checks."""

    error: str | None
    requests: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def sent(self, method: str) -> list[str]:
        return [r["url"] for r in self.requests if r["method"] == method]


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The k6 script with its k6 imports pointed at the stand-ins."""
    if shutil.which("node") is None:
        unavailable("node is not installed", "install Node.js")
    copy = tmp_path_factory.mktemp("k6") / "performance-test.mjs"
    copy.write_text(
        K6_SCRIPT.read_text()
        .replace("'k6/http'", f"'{SHIM / 'http.mjs'}'")
        .replace("'k6/metrics'", f"'{SHIM / 'metrics.mjs'}'")
        .replace("'k6'", f"'{SHIM / 'index.mjs'}'")
    )
    return copy


def run_k6(script: Path, iterations: int = 0, **env: str) -> K6Run:
    result = subprocess.run(
        ["node", str(SHIM / "run.mjs"), str(script), str(iterations)],
        env={"PATH": "/usr/bin:/bin", "K6_ENV": json.dumps(env)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return K6Run(**json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def undemoed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """gunicorn with the production conf on a fresh database: no demo agent, one key."""
    directory = tmp_path_factory.mktemp("k6-live")
    with running_gunicorn(directory, gunicorn_env(directory, AIFACTORY_API_KEYS=KEY)) as server:
        yield server


@pytest.mark.slow
def test_setup_registers_its_own_agent_where_the_demo_was_not_seeded(
    script: Path, undemoed: ServerProcess
) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    demo = httpx.get(f"{undemoed.url}/api/v1/agents/demo-support-bot", headers=auth)
    assert demo.status_code == 404  # where the script used to abort

    first = run_k6(script, iterations=1, BASE_URL=undemoed.url, API_KEY=KEY)
    assert first.error is None
    assert first.sent("POST")[0] == f"{undemoed.url}/api/v1/agents"
    agent = httpx.get(f"{undemoed.url}/api/v1/agents/{OWN_AGENT}", headers=auth)
    assert agent.status_code == 200
    assert agent.json()["kind"] == "scripted"
    # The iteration's whole mix passed against it: run, batch, status, results, metrics.
    assert first.checks and all(check["passed"] for check in first.checks), first.checks
    assert {"run: HTTP 200", "batch: HTTP 202", "results: HTTP 200"} <= {
        check["name"] for check in first.checks
    }

    # A second run finds the agent and registers nothing; the key may come as AIFACTORY_API_KEY.
    again = run_k6(script, BASE_URL=undemoed.url, AIFACTORY_API_KEY=KEY)
    assert again.error is None
    assert again.sent("POST") == []


@pytest.mark.slow
def test_setup_without_a_key_says_how_to_pass_one(script: Path, undemoed: ServerProcess) -> None:
    run = run_k6(script, BASE_URL=undemoed.url)
    assert run.error is not None
    assert "answered 401; pass a valid key: -e API_KEY=afk_..." in run.error
    assert run.sent("POST") == []


@pytest.mark.slow
def test_setup_does_not_invent_an_agent_the_user_named(
    script: Path, undemoed: ServerProcess
) -> None:
    run = run_k6(script, BASE_URL=undemoed.url, API_KEY=KEY, AGENT_ID="my-production-bot")
    assert run.error is not None
    assert run.error.startswith("Agent my-production-bot does not exist")
    assert run.sent("POST") == []


class RacedHandler(BaseHTTPRequestHandler):
    """Another k6 run registers the agent between this run's GET and POST: the POST is a 409."""

    registered = False
    posts = 0

    def _send(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == f"/api/v1/agents/{OWN_AGENT}" and type(self).registered:
            self._send(200, {"id": OWN_AGENT, "kind": "scripted"})
        else:
            self._send(404, {"error": {"code": "not_found", "message": "No such agent."}})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).posts += 1
        type(self).registered = True
        self._send(409, {"error": {"code": "conflict", "message": "It exists."}})

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_setup_accepts_the_409_of_an_agent_registered_meanwhile(script: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RacedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        run = run_k6(script, BASE_URL=url, API_KEY=KEY)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert run.error is None
    assert RacedHandler.posts == 1
