"""Schemathesis' state machine over ``/openapi.json``: chains of calls that follow the document's
links (create an agent, then read, change, run, batch and delete it; follow a batch's run to its
status, results, report, comparison and cancel) never get a 5xx, and every answer has a status,
a content type, headers and a body that the document declares.

Each scenario starts on a fresh database holding the agent and the suite that the document's
request examples name, so an example drawn by the generator reaches the service's logic rather
than a 404, and a replay meets the state its first run met. The machine is bounded and
derandomized, so the run is repeatable and short; the app, its key, the checks and the rule that
nothing generated calls out are in ``openapi_fuzz_support``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RULE_MARKER
from schemathesis import Case, Response
from schemathesis.checks import CheckFunction
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.python import asgi as st_asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema
from tests.api.openapi_fuzz_support import (
    CHECKS,
    HEADERS,
    fuzz_app,
    give_cases_a_kind,
    keep_local,
    openapi_document,
    stop_fuzz_apps,
)

from aifactory.api import examples

STATEFUL_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=16,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)

DECLARED = {
    ("createAgent", "getAgent"),
    ("createAgent", "updateAgent"),
    ("createAgent", "deleteAgent"),
    ("createAgent", "listAgentVersions"),
    ("createAgent", "listAgentResults"),
    ("createAgent", "runTest"),
    ("createAgent", "submitBatch"),
    ("createSuite", "getSuite"),
    ("createSuite", "deleteSuite"),
    ("createSuite", "submitBatch"),
    ("submitBatch", "getRunStatus"),
    ("submitBatch", "getRun"),
    ("submitBatch", "listRunResults"),
    ("submitBatch", "cancelRun"),
    ("submitBatch", "getRunReport"),
    ("createKey", "revokeKey"),
    ("reflectAgent", "getReflection"),
    ("reflectAgent", "cancelReflection"),
}
"""Chains the document must declare as links, at the least (source and target operation ids)."""

CHAINING_SOURCES = {"createAgent", "createSuite", "submitBatch", "runTest", "createKey"}
"""Operations whose answers the run must have fed into a next request (value sent, 2xx back)."""


def declared_links(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every link in the document: (source operation id, link name, target operation id)."""
    return {
        (operation["operationId"], name, link["operationId"])
        for methods in document["paths"].values()
        for operation in methods.values()
        for response in operation.get("responses", {}).values()
        for name, link in response.get("links", {}).items()
    }


def declared_only(document: dict[str, Any]) -> OpenApiSchema:
    """The schema with link inference off: every transition comes from a declared link, so the
    run spends its budget on the chains the document promises and a lost link cannot hide behind
    an inferred one."""
    schema = schemathesis.openapi.from_dict(document)
    schema.config.phases.stateful.inference.algorithms = []
    # The key comes from HEADERS, not the generator: steps spent on a missing key would chain
    # nothing (`ignored_auth` still checks that every operation refuses a request without it).
    schema.config.generation.update(with_security_parameters=False)
    return schema


def operation_id(case: Case) -> str:
    return str(case.operation.definition.raw["operationId"])


SEEDED_SUITE_ID = examples.SUITE["inline"]["value"]["id"]
suite_ids = (f"{SEEDED_SUITE_ID}-{n}" for n in itertools.count())


def fresh_suite_id(case: Case) -> None:
    """Give the example suite a new id: :func:`seed` took its own, so it would always be a 409."""
    body = case.body
    if (
        operation_id(case) == "createSuite"
        and isinstance(body, dict)
        and body.get("id") == SEEDED_SUITE_ID
    ):
        body["id"] = next(suite_ids)


SEEDED_AGENT_ID = examples.AGENT["scripted"]["value"]["id"]


def one_agent(case: Case) -> None:
    """Name exactly one agent in a ``runTest`` body: the seeded one when it names none or both.

    The generator draws ``agent_id`` and ``agent`` independently, so most single runs would be a
    422 for naming none or both, and the run's link to the stored run would rarely be followed.
    The fuzz test (``test_api_openapi_fuzz``) keeps sending such bodies as generated.
    """
    body = case.body
    if operation_id(case) != "runTest" or not isinstance(body, dict):
        return
    if (body.get("agent_id") is None) == (body.get("agent") is None):
        body.pop("agent", None)
        body["agent_id"] = SEEDED_AGENT_ID


def seed(app: FastAPI) -> None:
    """Register the agent and the suite the document's request examples name."""
    with st_asgi.get_client(app) as client:
        for path, example in (
            ("/api/v1/agents", examples.AGENT["scripted"]),
            ("/api/v1/suites", examples.SUITE["inline"]),
        ):
            response = client.post(path, json=example["value"], headers=HEADERS)
            assert response.status_code == 201, response.text


def test_the_document_declares_links_for_the_chains_of_the_api() -> None:
    chains = {(source, target) for source, _, target in declared_links(openapi_document())}
    assert chains >= DECLARED


def test_the_state_machine_has_a_transition_for_every_declared_link() -> None:
    document = openapi_document()
    declared = declared_links(document)
    machine = declared_only(document).as_state_machine()
    transitions = [
        name
        for name, value in vars(machine).items()
        if hasattr(value, RULE_MARKER) and name not in machine.root_rules
    ]
    assert len(transitions) == len(declared) >= 40
    for _, link_name, _ in declared:
        assert any(f"_{link_name}_" in name for name in transitions), link_name


def test_chained_requests_get_no_server_error_and_match_the_schema(tmp_path: Path) -> None:
    databases = (tmp_path / f"scenario-{n}.db" for n in itertools.count())
    followed: set[tuple[str, str]] = set()

    class Workflow(declared_only(openapi_document()).as_state_machine()):
        """Each scenario starts on its own database, so a replay meets the state it met first."""

        def setup(self) -> None:
            self.app = fuzz_app(next(databases))
            self.operation_ids: dict[str, str] = {}
            seed(self.app)

        def teardown(self) -> None:
            stop_fuzz_apps()

        def before_call(self, case: Case) -> None:
            keep_local(case.body)
            give_cases_a_kind(case.body)
            one_agent(case)
            fresh_suite_id(case)
            # `ignored_auth` repeats a request without the key through the schema's transport.
            case.operation.schema.app = self.app

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"app": self.app, "headers": HEADERS}

        def validate_response(
            self,
            response: Response,
            case: Case,
            additional_checks: list[CheckFunction] | None = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response, checks=CHECKS, transport_kwargs=kwargs, recorder=self.recorder
            )

        def step(self, input: StepInput) -> StepOutput:
            output = super().step(input)
            self.operation_ids[input.case.id] = operation_id(input.case)
            link = input.transition
            if link is not None and input.is_applied and output.response.status_code < 300:
                followed.add((self.operation_ids[link.parent_id], operation_id(input.case)))
            return output

    Workflow.run(settings=STATEFUL_SETTINGS)
    # Chaining cannot fade away unnoticed: the links' values reached the service and worked.
    assert {source for source, _ in followed} >= CHAINING_SOURCES, sorted(followed)
    assert len(followed) >= 12, sorted(followed)
