"""The seed's load test for locust: the same request mix as ``performance-test.js`` (k6).

Each simulated user loops over the mix — ``GET /health``, ``GET /ping``, a single run
(``POST /api/v1/test/run``), a 10-case batch (``POST /api/v1/test/batch``) and its status,
the agent's results, ``GET /api/v1/metrics`` — then waits ``AIFACTORY_LOAD_THINK_S`` seconds
(default 1, as the k6 script sleeps). Any answer other than the expected status is a failure.

    pip install -e '.[load]'
    AIFACTORY_API_KEY=afk_... locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless --users 50 --spawn-rate 5 --run-time 2m

``AIFACTORY_LOAD_AGENT`` names the agent (default ``demo-support-bot``, which ``aifactory serve``
and ``AIFACTORY_SEED_DEMO=1`` seed). ``bench/load.sh`` runs this against gunicorn and prints
the figures next to the seed's.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from locust import FastHttpUser, constant, task

AGENT = os.environ.get("AIFACTORY_LOAD_AGENT", "demo-support-bot")
THINK_S = float(os.environ.get("AIFACTORY_LOAD_THINK_S", "1"))
CASES: list[dict[str, Any]] = [
    {"name": "refund", "input": "Can I get a refund after 40 days?", "checks": [
        {"type": "contains", "value": "30 days"}]},
    {"name": "password", "input": "I forgot my password", "checks": [
        {"type": "icontains", "value": "reset"}]},
    {"name": "order", "input": "Where is order #1234?", "checks": [{"type": "json_valid"}]},
    {"name": "off topic", "input": "What's the weather tomorrow?", "checks": [
        {"type": "regex", "pattern": "only help"}]},
    {"name": "refund words", "input": "How long is the refund window?", "checks": [
        {"type": "contains", "value": "30 days"}]},
]  # fmt: skip
_user_numbers = itertools.count()


class SeedMixUser(FastHttpUser):
    """One user of the original scenario, going through the whole mix each iteration."""

    wait_time = constant(THINK_S)

    def on_start(self) -> None:
        self.number = next(_user_numbers)
        self.auth = {"Authorization": f"Bearer {os.environ.get('AIFACTORY_API_KEY', '')}"}

    def expect(self, method: str, path: str, status: int, name: str, **kwargs: Any) -> Any:
        """One request that fails unless it answers ``status``; its JSON body, or None."""
        with self.client.request(
            method, path, name=name, headers=self.auth, catch_response=True, **kwargs
        ) as response:
            if response.status_code != status:
                response.failure(f"HTTP {response.status_code}, expected {status}")
                return None
            return response.json()

    @task
    def seed_mix(self) -> None:
        case = CASES[self.number % len(CASES)]
        self.expect("GET", "/health", 200, "GET /health")
        self.expect("GET", "/ping", 200, "GET /ping")
        self.expect(
            "POST",
            "/api/v1/test/run",
            200,
            "POST /api/v1/test/run",
            json={"agent_id": AGENT, "test_case": case},
        )
        accepted = self.expect(
            "POST",
            "/api/v1/test/batch",
            202,
            "POST /api/v1/test/batch",
            json={"agent_id": AGENT, "test_cases": CASES + CASES, "name": "locust batch"},
        )
        if accepted is not None:
            self.expect(
                "GET",
                f"/api/v1/test/status/{accepted['run_id']}",
                200,
                "GET /api/v1/test/status/{id}",
            )
        results = f"/api/v1/agents/{AGENT}/results"
        self.expect("GET", results, 200, "GET /api/v1/agents/{id}/results")
        self.expect("GET", "/api/v1/metrics", 200, "GET /api/v1/metrics")
