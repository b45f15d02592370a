"""The Python SDK: :class:`Client` and :class:`AsyncClient`, twins over httpx.

::

    from aifactory import Client

    with Client() as client:  # AIFACTORY_URL and AIFACTORY_API_KEY, as the command line
        run = client.submit_batch("support-bot", test_cases=[{"name": "hi", "input": "hello"}])
        status = client.wait_for_run(run.run_id)

Without ``base_url`` both read ``AIFACTORY_URL`` (then ``AIFACTORY_SERVER``, the command
line's older name), else ``http://127.0.0.1:8000``; without ``api_key`` they read
``AIFACTORY_API_KEY``. Both accept ``transport=`` (e.g. ``httpx.ASGITransport(app)`` to talk to
an app in-process).
Every request is described once, in :class:`_Requests`; the twins only send it. What they
return is the domain's records or the SDK's own shapes (:mod:`aifactory.client_shapes`): the SDK
imports nothing of the server.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from aifactory.client_shapes import (
    AgentPublic,
    AgentVersionPublic,
    BatchAccepted,
    Health,
    KeyCreated,
    KeyPublic,
    LabelPublic,
    MetricsPublic,
    RunPublic,
    RunStatusPublic,
    SuitePublic,
)
from aifactory.domain.compare import Comparison
from aifactory.domain.models import AgentSpec, TestCase, TestResult
from aifactory.domain.paging import Page
from aifactory.domain.reflection import ReflectionAccepted, ReflectionPublic
from aifactory.domain.review import AgreementReport, ReviewQueue
from aifactory.domain.runs import TERMINAL
from aifactory.domain.trend import Trend
from aifactory.errors import AIFactoryError

T = TypeVar("T")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
URL_ENV = ("AIFACTORY_URL", "AIFACTORY_SERVER")
KEY_ENV = "AIFACTORY_API_KEY"


class APIStatusError(AIFactoryError):
    """The server answered an error: its status, code, message and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class _Req(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    files: Any = None
    data: Any = None
    raw: bool = False
    """Hand ``parse`` the body's bytes instead of its JSON (reports)."""


def _model(model: type[BaseModel]) -> Callable[[Any], Any]:
    return model.model_validate


def _page(model: type[Any]) -> Callable[[Any], Any]:
    adapter = TypeAdapter(Page[model])  # type: ignore[valid-type]
    return adapter.validate_python


def _none(_: Any) -> None:
    return None


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class _Requests:
    """What each SDK method sends and how its answer is read."""

    @staticmethod
    def health() -> _Req[Health]:
        return _Req("GET", "/health", _model(Health))

    @staticmethod
    def ping() -> _Req[dict[str, Any]]:
        return _Req("GET", "/ping", dict)

    @staticmethod
    def metrics() -> _Req[MetricsPublic]:
        return _Req("GET", "/api/v1/metrics", _model(MetricsPublic))

    @staticmethod
    def run_test(
        test_case: TestCase | Mapping[str, Any],
        agent_id: str | None,
        agent: AgentSpec | Mapping[str, Any] | None,
    ) -> _Req[TestResult]:
        body: dict[str, Any] = {"test_case": _dump(test_case)}
        if agent_id is not None:
            body["agent_id"] = agent_id
        if agent is not None:
            body["agent"] = _dump(agent)
        return _Req("POST", "/api/v1/test/run", _model(TestResult), json=body)

    @staticmethod
    def submit_batch(
        agent_id: str,
        test_cases: list[Any] | None,
        suite_id: str | None,
        name: str | None,
        concurrency: int | None,
        repeat: int,
        metadata: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> _Req[BatchAccepted]:
        body = _params(
            agent_id=agent_id,
            test_cases=_dump(test_cases) if test_cases is not None else None,
            suite_id=suite_id,
            name=name,
            concurrency=concurrency,
            metadata=metadata,
        )
        body["repeat"] = repeat
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _Req("POST", "/api/v1/test/batch", _model(BatchAccepted), json=body, headers=headers)

    @staticmethod
    def status(run_id: str, results_limit: int, results_offset: int) -> _Req[RunStatusPublic]:
        return _Req(
            "GET",
            f"/api/v1/test/status/{run_id}",
            _model(RunStatusPublic),
            params={"results_limit": results_limit, "results_offset": results_offset},
        )

    @staticmethod
    def create_agent(spec: AgentSpec | Mapping[str, Any]) -> _Req[AgentPublic]:
        return _Req("POST", "/api/v1/agents", _model(AgentPublic), json=_dump(spec))

    @staticmethod
    def list_agents(limit: int, offset: int) -> _Req[Page[AgentPublic]]:
        return _Req(
            "GET", "/api/v1/agents", _page(AgentPublic), params={"limit": limit, "offset": offset}
        )

    @staticmethod
    def get_agent(agent_id: str) -> _Req[AgentPublic]:
        return _Req("GET", f"/api/v1/agents/{agent_id}", _model(AgentPublic))

    @staticmethod
    def update_agent(agent_id: str, changes: Mapping[str, Any]) -> _Req[AgentPublic]:
        return _Req("PATCH", f"/api/v1/agents/{agent_id}", _model(AgentPublic), json=dict(changes))

    @staticmethod
    def delete_agent(agent_id: str) -> _Req[None]:
        return _Req("DELETE", f"/api/v1/agents/{agent_id}", _none)

    @staticmethod
    def agent_versions(agent_id: str, limit: int, offset: int) -> _Req[Page[AgentVersionPublic]]:
        return _Req(
            "GET",
            f"/api/v1/agents/{agent_id}/versions",
            _page(AgentVersionPublic),
            params={"limit": limit, "offset": offset},
        )

    @staticmethod
    def agent_results(agent_id: str, limit: int, offset: int) -> _Req[Page[TestResult]]:
        return _Req(
            "GET",
            f"/api/v1/agents/{agent_id}/results",
            _page(TestResult),
            params={"limit": limit, "offset": offset},
        )

    @staticmethod
    def create_suite(suite: Mapping[str, Any]) -> _Req[SuitePublic]:
        return _Req("POST", "/api/v1/suites", _model(SuitePublic), json=_dump(dict(suite)))

    @staticmethod
    def import_suite(filename: str, content: bytes, suite_id: str | None) -> _Req[SuitePublic]:
        return _Req(
            "POST",
            "/api/v1/suites/import",
            _model(SuitePublic),
            files={"file": (filename, content)},
            data={"id": suite_id} if suite_id else None,
        )

    @staticmethod
    def list_suites(limit: int, offset: int) -> _Req[Page[SuitePublic]]:
        return _Req(
            "GET", "/api/v1/suites", _page(SuitePublic), params={"limit": limit, "offset": offset}
        )

    @staticmethod
    def get_suite(suite_id: str, cases_limit: int, cases_offset: int) -> _Req[SuitePublic]:
        return _Req(
            "GET",
            f"/api/v1/suites/{suite_id}",
            _model(SuitePublic),
            params={"cases_limit": cases_limit, "cases_offset": cases_offset},
        )

    @staticmethod
    def delete_suite(suite_id: str) -> _Req[None]:
        return _Req("DELETE", f"/api/v1/suites/{suite_id}", _none)

    @staticmethod
    def list_runs(
        agent_id: str | None, status: str | None, id_prefix: str | None, limit: int, offset: int
    ) -> _Req[Page[RunPublic]]:
        return _Req(
            "GET",
            "/api/v1/runs",
            _page(RunPublic),
            params=_params(
                agent_id=agent_id, status=status, id_prefix=id_prefix, limit=limit, offset=offset
            ),
        )

    @staticmethod
    def get_run(run_id: str) -> _Req[RunPublic]:
        return _Req("GET", f"/api/v1/runs/{run_id}", _model(RunPublic))

    @staticmethod
    def run_results(
        run_id: str, status: str | None, tag: str | None, limit: int, offset: int
    ) -> _Req[Page[TestResult]]:
        return _Req(
            "GET",
            f"/api/v1/runs/{run_id}/results",
            _page(TestResult),
            params=_params(status=status, tag=tag, limit=limit, offset=offset),
        )

    @staticmethod
    def cancel_run(run_id: str) -> _Req[RunPublic]:
        return _Req("POST", f"/api/v1/runs/{run_id}/cancel", _model(RunPublic))

    @staticmethod
    def import_run(
        agent_id: str,
        results: Sequence[TestResult | Mapping[str, Any]],
        name: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> _Req[RunPublic]:
        body = _params(agent_id=agent_id, name=name, metadata=dict(metadata or {}))
        body["results"] = [_dump(r) for r in results]
        return _Req("POST", "/api/v1/runs/import", _model(RunPublic), json=body)

    @staticmethod
    def get_report(run_id: str, fmt: str) -> _Req[bytes]:
        return _Req("GET", f"/api/v1/runs/{run_id}/report", bytes, params={"format": fmt}, raw=True)

    @staticmethod
    def compare_runs(base: str, head: str) -> _Req[Comparison]:
        return _Req(
            "GET", "/api/v1/runs/compare", _model(Comparison), params={"base": base, "head": head}
        )

    @staticmethod
    def agent_trend(agent_id: str, runs: int) -> _Req[Trend]:
        return _Req("GET", f"/api/v1/agents/{agent_id}/trend", _model(Trend), params={"runs": runs})

    @staticmethod
    def create_key(name: str, scopes: list[str]) -> _Req[KeyCreated]:
        return _Req(
            "POST", "/api/v1/keys", _model(KeyCreated), json={"name": name, "scopes": scopes}
        )

    @staticmethod
    def list_keys(limit: int, offset: int) -> _Req[Page[KeyPublic]]:
        return _Req(
            "GET", "/api/v1/keys", _page(KeyPublic), params={"limit": limit, "offset": offset}
        )

    @staticmethod
    def revoke_key(key_id: str) -> _Req[None]:
        return _Req("DELETE", f"/api/v1/keys/{key_id}", _none)

    @staticmethod
    def reflect(agent_id: str, suite_id: str, options: dict[str, Any]) -> _Req[ReflectionAccepted]:
        body = {"suite_id": suite_id, **_params(**options)}
        return _Req(
            "POST", f"/api/v1/agents/{agent_id}/reflect", _model(ReflectionAccepted), json=body
        )

    @staticmethod
    def get_reflection(reflection_id: str) -> _Req[ReflectionPublic]:
        return _Req("GET", f"/api/v1/reflections/{reflection_id}", _model(ReflectionPublic))

    @staticmethod
    def list_reflections(
        agent_id: str | None, limit: int, offset: int
    ) -> _Req[Page[ReflectionPublic]]:
        return _Req(
            "GET",
            "/api/v1/reflections",
            _page(ReflectionPublic),
            params=_params(agent_id=agent_id, limit=limit, offset=offset),
        )

    @staticmethod
    def cancel_reflection(reflection_id: str) -> _Req[ReflectionPublic]:
        return _Req("POST", f"/api/v1/reflections/{reflection_id}/cancel", _model(ReflectionPublic))

    @staticmethod
    def reflection_report(reflection_id: str, fmt: str) -> _Req[bytes]:
        return _Req(
            "GET",
            f"/api/v1/reflections/{reflection_id}/report",
            bytes,
            params={"format": fmt},
            raw=True,
        )

    @staticmethod
    def add_label(result_id: str, body: dict[str, Any]) -> _Req[LabelPublic]:
        return _Req(
            "POST", f"/api/v1/results/{result_id}/labels", _model(LabelPublic), json=_params(**body)
        )

    @staticmethod
    def list_labels(result_id: str, limit: int, offset: int) -> _Req[Page[LabelPublic]]:
        return _Req(
            "GET",
            f"/api/v1/results/{result_id}/labels",
            _page(LabelPublic),
            params={"limit": limit, "offset": offset},
        )

    @staticmethod
    def delete_label(label_id: str) -> _Req[None]:
        return _Req("DELETE", f"/api/v1/labels/{label_id}", _none)

    @staticmethod
    def review_queue(
        strategy: str, run_id: str | None, agent_id: str | None, limit: int
    ) -> _Req[ReviewQueue]:
        return _Req(
            "GET",
            "/api/v1/review/queue",
            _model(ReviewQueue),
            params=_params(strategy=strategy, run_id=run_id, agent_id=agent_id, limit=limit),
        )

    @staticmethod
    def judge_agreement(
        agent_id: str | None, suite_id: str | None, check_type: str | None
    ) -> _Req[AgreementReport]:
        return _Req(
            "GET",
            "/api/v1/judges/agreement",
            _model(AgreementReport),
            params=_params(agent_id=agent_id, suite_id=suite_id, check_type=check_type),
        )

    @staticmethod
    def export_golden_set(agent_id: str, fmt: str) -> _Req[bytes]:
        return _Req(
            "GET",
            "/api/v1/review/export",
            bytes,
            params={"agent_id": agent_id, "format": fmt},
            raw=True,
        )


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    code, message, details = "error", response.text[:500], None
    try:
        error = response.json()["error"]
        code, message, details = error["code"], error["message"], error.get("details")
    except (ValueError, KeyError, TypeError):
        pass
    raise APIStatusError(
        response.status_code,
        code,
        message,
        details,
        request_id=response.headers.get("x-request-id"),
        headers=response.headers,
    )


def _decode(req: _Req[T], response: httpx.Response) -> T:
    _raise_for(response)
    if req.raw:
        return req.parse(response.content)
    if response.status_code == 204 or not response.content:
        return req.parse(None)
    return req.parse(response.json())


def _base_url(base_url: str | None) -> str:
    if base_url:
        return base_url
    for name in URL_ENV:
        if value := os.environ.get(name, "").strip():
            return value
    return DEFAULT_BASE_URL


def _api_key(api_key: str | None) -> str | None:
    return api_key if api_key is not None else (os.environ.get(KEY_ENV) or None)


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": "aifactory-sdk"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _file(path_or_name: str | Path, content: bytes | None) -> tuple[str, bytes]:
    if content is not None:
        return str(path_or_name), content
    path = Path(path_or_name)
    return path.name, path.read_bytes()


class Client:
    """Synchronous client for the v1 API.

    Args:
        base_url: The service (default: ``AIFACTORY_URL``, else ``http://127.0.0.1:8000``).
        api_key: Sent as ``Authorization: Bearer`` (default: ``AIFACTORY_API_KEY``).
        timeout: Seconds per request.
        transport: An httpx transport (``httpx.ASGITransport(app)`` for an app in-process).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=_base_url(base_url),
            headers=_headers(_api_key(api_key)),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, req: _Req[T]) -> T:
        response = self._http.request(
            req.method,
            req.path,
            params=req.params,
            json=req.json,
            headers=req.headers,
            files=req.files,
            data=req.data,
        )
        return _decode(req, response)

    def health(self) -> Health:
        return self._send(_Requests.health())

    def ping(self) -> dict[str, Any]:
        return self._send(_Requests.ping())

    def metrics(self) -> MetricsPublic:
        return self._send(_Requests.metrics())

    def run_test(
        self,
        test_case: TestCase | Mapping[str, Any],
        *,
        agent_id: str | None = None,
        agent: AgentSpec | Mapping[str, Any] | None = None,
    ) -> TestResult:
        return self._send(_Requests.run_test(test_case, agent_id, agent))

    def submit_batch(
        self,
        agent_id: str,
        *,
        test_cases: list[Any] | None = None,
        suite_id: str | None = None,
        name: str | None = None,
        concurrency: int | None = None,
        repeat: int = 1,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> BatchAccepted:
        return self._send(
            _Requests.submit_batch(
                agent_id, test_cases, suite_id, name, concurrency, repeat, metadata, idempotency_key
            )
        )

    def get_status(
        self, run_id: str, *, results_limit: int = 50, results_offset: int = 0
    ) -> RunStatusPublic:
        return self._send(_Requests.status(run_id, results_limit, results_offset))

    def wait_for_run(
        self, run_id: str, *, timeout: float = 600.0, poll_s: float = 0.2
    ) -> RunStatusPublic:
        """Poll until the run is completed, failed or cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_status(run_id, results_limit=0)
            if status.status in TERMINAL:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"Run {run_id} is still {status.status} after {timeout} s.")
            time.sleep(poll_s)

    def create_agent(self, spec: AgentSpec | Mapping[str, Any]) -> AgentPublic:
        return self._send(_Requests.create_agent(spec))

    def list_agents(self, *, limit: int = 50, offset: int = 0) -> Page[AgentPublic]:
        return self._send(_Requests.list_agents(limit, offset))

    def get_agent(self, agent_id: str) -> AgentPublic:
        return self._send(_Requests.get_agent(agent_id))

    def update_agent(self, agent_id: str, **changes: Any) -> AgentPublic:
        return self._send(_Requests.update_agent(agent_id, changes))

    def delete_agent(self, agent_id: str) -> None:
        self._send(_Requests.delete_agent(agent_id))

    def agent_versions(
        self, agent_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[AgentVersionPublic]:
        return self._send(_Requests.agent_versions(agent_id, limit, offset))

    def agent_results(self, agent_id: str, *, limit: int = 10, offset: int = 0) -> Page[TestResult]:
        return self._send(_Requests.agent_results(agent_id, limit, offset))

    def create_suite(self, suite: Mapping[str, Any]) -> SuitePublic:
        return self._send(_Requests.create_suite(suite))

    def import_suite(
        self, path: str | Path, *, content: bytes | None = None, suite_id: str | None = None
    ) -> SuitePublic:
        name, data = _file(path, content)
        return self._send(_Requests.import_suite(name, data, suite_id))

    def list_suites(self, *, limit: int = 50, offset: int = 0) -> Page[SuitePublic]:
        return self._send(_Requests.list_suites(limit, offset))

    def get_suite(
        self, suite_id: str, *, cases_limit: int = 100, cases_offset: int = 0
    ) -> SuitePublic:
        return self._send(_Requests.get_suite(suite_id, cases_limit, cases_offset))

    def delete_suite(self, suite_id: str) -> None:
        self._send(_Requests.delete_suite(suite_id))

    def list_runs(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        id_prefix: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[RunPublic]:
        """Runs, newest first; ``id_prefix`` keeps those whose id starts with it."""
        return self._send(_Requests.list_runs(agent_id, status, id_prefix, limit, offset))

    def get_run(self, run_id: str) -> RunPublic:
        return self._send(_Requests.get_run(run_id))

    def run_results(
        self,
        run_id: str,
        *,
        status: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[TestResult]:
        return self._send(_Requests.run_results(run_id, status, tag, limit, offset))

    def cancel_run(self, run_id: str) -> RunPublic:
        return self._send(_Requests.cancel_run(run_id))

    def import_run(
        self,
        agent_id: str,
        results: Sequence[TestResult | Mapping[str, Any]],
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> RunPublic:
        """Store a finished run made elsewhere (the pytest plugin's) with its results."""
        return self._send(_Requests.import_run(agent_id, results, name, metadata))

    def get_report(self, run_id: str, fmt: str = "html") -> bytes:
        """The run's report file (html, markdown, json, junit or csv) as bytes."""
        return self._send(_Requests.get_report(run_id, fmt))

    def compare_runs(self, base: str, head: str) -> Comparison:
        """Compare two runs case by case: flips, McNemar, score interval, verdict."""
        return self._send(_Requests.compare_runs(base, head))

    def agent_trend(self, agent_id: str, *, runs: int = 20) -> Trend:
        """The agent's recent runs and versions with intervals, and its flaky cases."""
        return self._send(_Requests.agent_trend(agent_id, runs))

    def create_key(self, name: str, *, scopes: list[str] | None = None) -> KeyCreated:
        return self._send(_Requests.create_key(name, scopes or ["read", "write"]))

    def list_keys(self, *, limit: int = 100, offset: int = 0) -> Page[KeyPublic]:
        return self._send(_Requests.list_keys(limit, offset))

    def revoke_key(self, key_id: str) -> None:
        self._send(_Requests.revoke_key(key_id))

    def reflect(
        self,
        agent_id: str,
        suite_id: str,
        *,
        max_iterations: int | None = None,
        candidates: int | None = None,
        holdout: float | None = None,
        budget_usd: float | None = None,
        target_pass_rate: float | None = None,
        auto_promote: bool | None = None,
        reflector_model: str | None = None,
    ) -> ReflectionAccepted:
        """Start the reflection loop on an agent over a suite (unset options: server defaults)."""
        options = {
            "max_iterations": max_iterations,
            "candidates": candidates,
            "holdout": holdout,
            "budget_usd": budget_usd,
            "target_pass_rate": target_pass_rate,
            "auto_promote": auto_promote,
            "reflector_model": reflector_model,
        }
        return self._send(_Requests.reflect(agent_id, suite_id, options))

    def get_reflection(self, reflection_id: str) -> ReflectionPublic:
        """A reflection: baseline, iterations with every candidate, stop reason and cost."""
        return self._send(_Requests.get_reflection(reflection_id))

    def list_reflections(
        self, *, agent_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[ReflectionPublic]:
        return self._send(_Requests.list_reflections(agent_id, limit, offset))

    def cancel_reflection(self, reflection_id: str) -> ReflectionPublic:
        """Stop a reflection and its runs; what it measured is kept."""
        return self._send(_Requests.cancel_reflection(reflection_id))

    def get_reflection_report(self, reflection_id: str, fmt: str = "html") -> bytes:
        """The reflection's report (html or markdown) as bytes."""
        return self._send(_Requests.reflection_report(reflection_id, fmt))

    def wait_for_reflection(
        self, reflection_id: str, *, timeout: float = 3600.0, poll_s: float = 1.0
    ) -> ReflectionPublic:
        """Poll until the reflection is completed, failed or cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            reflection = self.get_reflection(reflection_id)
            if reflection.status in TERMINAL:
                return reflection
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Reflection {reflection_id} is still {reflection.status} after {timeout} s."
                )
            time.sleep(poll_s)

    def add_label(
        self,
        result_id: str,
        *,
        passed: bool,
        score: float | None = None,
        comment: str | None = None,
        check: int | None = None,
    ) -> LabelPublic:
        """Label a finished result (or its check number ``check``) as passed or failed."""
        body = {"passed": passed, "score": score, "comment": comment, "check": check}
        return self._send(_Requests.add_label(result_id, body))

    def list_labels(
        self, result_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[LabelPublic]:
        """A result's labels, oldest first."""
        return self._send(_Requests.list_labels(result_id, limit, offset))

    def delete_label(self, label_id: str) -> None:
        """Delete a label (its reviewer's key, or an admin key)."""
        self._send(_Requests.delete_label(label_id))

    def review_queue(
        self,
        *,
        run_id: str | None = None,
        agent_id: str | None = None,
        strategy: str = "uncertain",
        limit: int = 10,
    ) -> ReviewQueue:
        """The results most worth reviewing: ``uncertain``, ``disagreement`` or ``unlabeled``."""
        return self._send(_Requests.review_queue(strategy, run_id, agent_id, limit))

    def judge_agreement(
        self,
        *,
        agent_id: str | None = None,
        suite_id: str | None = None,
        check_type: str | None = None,
    ) -> AgreementReport:
        """Each judge criterion against people's labels: agreement, kappa, confusion counts."""
        return self._send(_Requests.judge_agreement(agent_id, suite_id, check_type))

    def export_golden_set(self, agent_id: str, fmt: str = "yaml") -> bytes:
        """The agent's labeled cases as a suite file (``yaml`` or ``jsonl``)."""
        return self._send(_Requests.export_golden_set(agent_id, fmt))


class AsyncClient:
    """Asynchronous client for the v1 API; the same methods as :class:`Client`, awaited.

    ``base_url`` and ``api_key`` default to ``AIFACTORY_URL`` and ``AIFACTORY_API_KEY`` as
    :class:`Client`'s do.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=_base_url(base_url),
            headers=_headers(_api_key(api_key)),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, req: _Req[T]) -> T:
        response = await self._http.request(
            req.method,
            req.path,
            params=req.params,
            json=req.json,
            headers=req.headers,
            files=req.files,
            data=req.data,
        )
        return _decode(req, response)

    async def health(self) -> Health:
        return await self._send(_Requests.health())

    async def ping(self) -> dict[str, Any]:
        return await self._send(_Requests.ping())

    async def metrics(self) -> MetricsPublic:
        return await self._send(_Requests.metrics())

    async def run_test(
        self,
        test_case: TestCase | Mapping[str, Any],
        *,
        agent_id: str | None = None,
        agent: AgentSpec | Mapping[str, Any] | None = None,
    ) -> TestResult:
        return await self._send(_Requests.run_test(test_case, agent_id, agent))

    async def submit_batch(
        self,
        agent_id: str,
        *,
        test_cases: list[Any] | None = None,
        suite_id: str | None = None,
        name: str | None = None,
        concurrency: int | None = None,
        repeat: int = 1,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> BatchAccepted:
        return await self._send(
            _Requests.submit_batch(
                agent_id, test_cases, suite_id, name, concurrency, repeat, metadata, idempotency_key
            )
        )

    async def get_status(
        self, run_id: str, *, results_limit: int = 50, results_offset: int = 0
    ) -> RunStatusPublic:
        return await self._send(_Requests.status(run_id, results_limit, results_offset))

    async def wait_for_run(
        self, run_id: str, *, timeout: float = 600.0, poll_s: float = 0.2
    ) -> RunStatusPublic:
        """Poll until the run is completed, failed or cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.get_status(run_id, results_limit=0)
            if status.status in TERMINAL:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"Run {run_id} is still {status.status} after {timeout} s.")
            await asyncio.sleep(poll_s)

    async def create_agent(self, spec: AgentSpec | Mapping[str, Any]) -> AgentPublic:
        return await self._send(_Requests.create_agent(spec))

    async def list_agents(self, *, limit: int = 50, offset: int = 0) -> Page[AgentPublic]:
        return await self._send(_Requests.list_agents(limit, offset))

    async def get_agent(self, agent_id: str) -> AgentPublic:
        return await self._send(_Requests.get_agent(agent_id))

    async def update_agent(self, agent_id: str, **changes: Any) -> AgentPublic:
        return await self._send(_Requests.update_agent(agent_id, changes))

    async def delete_agent(self, agent_id: str) -> None:
        await self._send(_Requests.delete_agent(agent_id))

    async def agent_versions(
        self, agent_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[AgentVersionPublic]:
        return await self._send(_Requests.agent_versions(agent_id, limit, offset))

    async def agent_results(
        self, agent_id: str, *, limit: int = 10, offset: int = 0
    ) -> Page[TestResult]:
        return await self._send(_Requests.agent_results(agent_id, limit, offset))

    async def create_suite(self, suite: Mapping[str, Any]) -> SuitePublic:
        return await self._send(_Requests.create_suite(suite))

    async def import_suite(
        self, path: str | Path, *, content: bytes | None = None, suite_id: str | None = None
    ) -> SuitePublic:
        name, data = _file(path, content)
        return await self._send(_Requests.import_suite(name, data, suite_id))

    async def list_suites(self, *, limit: int = 50, offset: int = 0) -> Page[SuitePublic]:
        return await self._send(_Requests.list_suites(limit, offset))

    async def get_suite(
        self, suite_id: str, *, cases_limit: int = 100, cases_offset: int = 0
    ) -> SuitePublic:
        return await self._send(_Requests.get_suite(suite_id, cases_limit, cases_offset))

    async def delete_suite(self, suite_id: str) -> None:
        await self._send(_Requests.delete_suite(suite_id))

    async def list_runs(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        id_prefix: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[RunPublic]:
        """Runs, newest first; ``id_prefix`` keeps those whose id starts with it."""
        return await self._send(_Requests.list_runs(agent_id, status, id_prefix, limit, offset))

    async def get_run(self, run_id: str) -> RunPublic:
        return await self._send(_Requests.get_run(run_id))

    async def run_results(
        self,
        run_id: str,
        *,
        status: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[TestResult]:
        return await self._send(_Requests.run_results(run_id, status, tag, limit, offset))

    async def cancel_run(self, run_id: str) -> RunPublic:
        return await self._send(_Requests.cancel_run(run_id))

    async def import_run(
        self,
        agent_id: str,
        results: Sequence[TestResult | Mapping[str, Any]],
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> RunPublic:
        """Store a finished run made elsewhere (the pytest plugin's) with its results."""
        return await self._send(_Requests.import_run(agent_id, results, name, metadata))

    async def get_report(self, run_id: str, fmt: str = "html") -> bytes:
        """The run's report file (html, markdown, json, junit or csv) as bytes."""
        return await self._send(_Requests.get_report(run_id, fmt))

    async def compare_runs(self, base: str, head: str) -> Comparison:
        """Compare two runs case by case: flips, McNemar, score interval, verdict."""
        return await self._send(_Requests.compare_runs(base, head))

    async def agent_trend(self, agent_id: str, *, runs: int = 20) -> Trend:
        """The agent's recent runs and versions with intervals, and its flaky cases."""
        return await self._send(_Requests.agent_trend(agent_id, runs))

    async def create_key(self, name: str, *, scopes: list[str] | None = None) -> KeyCreated:
        return await self._send(_Requests.create_key(name, scopes or ["read", "write"]))

    async def list_keys(self, *, limit: int = 100, offset: int = 0) -> Page[KeyPublic]:
        return await self._send(_Requests.list_keys(limit, offset))

    async def revoke_key(self, key_id: str) -> None:
        await self._send(_Requests.revoke_key(key_id))

    async def reflect(
        self,
        agent_id: str,
        suite_id: str,
        *,
        max_iterations: int | None = None,
        candidates: int | None = None,
        holdout: float | None = None,
        budget_usd: float | None = None,
        target_pass_rate: float | None = None,
        auto_promote: bool | None = None,
        reflector_model: str | None = None,
    ) -> ReflectionAccepted:
        """Start the reflection loop on an agent over a suite (unset options: server defaults)."""
        options = {
            "max_iterations": max_iterations,
            "candidates": candidates,
            "holdout": holdout,
            "budget_usd": budget_usd,
            "target_pass_rate": target_pass_rate,
            "auto_promote": auto_promote,
            "reflector_model": reflector_model,
        }
        return await self._send(_Requests.reflect(agent_id, suite_id, options))

    async def get_reflection(self, reflection_id: str) -> ReflectionPublic:
        """A reflection: baseline, iterations with every candidate, stop reason and cost."""
        return await self._send(_Requests.get_reflection(reflection_id))

    async def list_reflections(
        self, *, agent_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[ReflectionPublic]:
        return await self._send(_Requests.list_reflections(agent_id, limit, offset))

    async def cancel_reflection(self, reflection_id: str) -> ReflectionPublic:
        """Stop a reflection and its runs; what it measured is kept."""
        return await self._send(_Requests.cancel_reflection(reflection_id))

    async def get_reflection_report(self, reflection_id: str, fmt: str = "html") -> bytes:
        """The reflection's report (html or markdown) as bytes."""
        return await self._send(_Requests.reflection_report(reflection_id, fmt))

    async def wait_for_reflection(
        self, reflection_id: str, *, timeout: float = 3600.0, poll_s: float = 1.0
    ) -> ReflectionPublic:
        """Poll until the reflection is completed, failed or cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            reflection = await self.get_reflection(reflection_id)
            if reflection.status in TERMINAL:
                return reflection
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Reflection {reflection_id} is still {reflection.status} after {timeout} s."
                )
            await asyncio.sleep(poll_s)

    async def add_label(
        self,
        result_id: str,
        *,
        passed: bool,
        score: float | None = None,
        comment: str | None = None,
        check: int | None = None,
    ) -> LabelPublic:
        """Label a finished result (or its check number ``check``) as passed or failed."""
        body = {"passed": passed, "score": score, "comment": comment, "check": check}
        return await self._send(_Requests.add_label(result_id, body))

    async def list_labels(
        self, result_id: str, *, limit: int = 100, offset: int = 0
    ) -> Page[LabelPublic]:
        """A result's labels, oldest first."""
        return await self._send(_Requests.list_labels(result_id, limit, offset))

    async def delete_label(self, label_id: str) -> None:
        """Delete a label (its reviewer's key, or an admin key)."""
        await self._send(_Requests.delete_label(label_id))

    async def review_queue(
        self,
        *,
        run_id: str | None = None,
        agent_id: str | None = None,
        strategy: str = "uncertain",
        limit: int = 10,
    ) -> ReviewQueue:
        """The results most worth reviewing: ``uncertain``, ``disagreement`` or ``unlabeled``."""
        return await self._send(_Requests.review_queue(strategy, run_id, agent_id, limit))

    async def judge_agreement(
        self,
        *,
        agent_id: str | None = None,
        suite_id: str | None = None,
        check_type: str | None = None,
    ) -> AgreementReport:
        """Each judge criterion against people's labels: agreement, kappa, confusion counts."""
        return await self._send(_Requests.judge_agreement(agent_id, suite_id, check_type))

    async def export_golden_set(self, agent_id: str, fmt: str = "yaml") -> bytes:
        """The agent's labeled cases as a suite file (``yaml`` or ``jsonl``)."""
        return await self._send(_Requests.export_golden_set(agent_id, fmt))
