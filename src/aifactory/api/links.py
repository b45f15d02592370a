"""OpenAPI links: which field of an answer names the resource the next request works on.

A route declares them through ``responses={status: linked(description, links)}``; FastAPI merges
that entry into the response it documents from ``response_model``, so the schema stays and the
operation id is untouched. Clients and schema-driven tools follow them to chain calls: create an
agent, then read, change, run and delete it.
"""

from __future__ import annotations

from typing import Any

Link = dict[str, Any]


def link(
    operation_id: str,
    description: str,
    *,
    parameters: dict[str, str] | None = None,
    request_body: dict[str, Any] | None = None,
) -> Link:
    """A link to ``operation_id``; values are runtime expressions such as ``$response.body#/id``.

    ``parameters`` fill the target's path or query parameters by name; ``request_body`` fills
    fields of its JSON body, the rest of the body being the caller's.
    """
    value: Link = {"operationId": operation_id, "description": description}
    if parameters:
        value["parameters"] = parameters
    if request_body:
        value["requestBody"] = request_body
    return value


def linked(description: str, links: dict[str, Link]) -> dict[str, Any]:
    """A response entry for a route's ``responses``: its description and where it leads."""
    return {"description": description, "links": links}


def run_links(run_id: str) -> dict[str, Link]:
    """Everything that reads or stops a run, from an answer whose ``run_id`` is at ``run_id``."""
    return {
        "GetRunStatus": link(
            "getRunStatus", "The run's progress and first results.", parameters={"run_id": run_id}
        ),
        "GetRun": link("getRun", "The run.", parameters={"run_id": run_id}),
        "ListRunResults": link(
            "listRunResults", "The run's finished results.", parameters={"run_id": run_id}
        ),
        "GetRunReport": link("getRunReport", "The run's report.", parameters={"run_id": run_id}),
        "CompareRuns": link(
            "compareRuns",
            "The run compared with itself.",
            parameters={"base": run_id, "head": run_id},
        ),
        "CancelRun": link("cancelRun", "Stop the run.", parameters={"run_id": run_id}),
    }


def suite_links(suite_id: str) -> dict[str, Link]:
    """Everything that reads, runs or deletes a suite whose id is at ``suite_id``."""
    return {
        "GetSuite": link("getSuite", "The suite and its cases.", parameters={"suite_id": suite_id}),
        "DeleteSuite": link("deleteSuite", "Delete the suite.", parameters={"suite_id": suite_id}),
        "SubmitBatchOfSuite": link(
            "submitBatch",
            "Run the suite's cases in the background.",
            request_body={"suite_id": suite_id},
        ),
        "ReflectOnSuite": link(
            "reflectAgent",
            "Start the reflection loop over the suite.",
            request_body={"suite_id": suite_id},
        ),
    }
