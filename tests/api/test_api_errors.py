"""Errors become the statuses the OpenAPI document and docs/api.md promise, in the one shape."""

from __future__ import annotations

import pytest
from tests.fakes.service import Service

NOT_UTF8 = b'{"name": "\xc3\x28 is not UTF-8"}'


@pytest.mark.parametrize(
    ("route", "content_type", "body"),
    [
        ("/api/v1/keys", "application/json", NOT_UTF8),
        ("/api/v1/agents", "application/json", NOT_UTF8),
        ("/api/v1/test/batch", "application/json", NOT_UTF8),
        ("/api/v1/suites/import", "multipart/form-data", b"no boundary to split on"),
    ],
)
async def test_a_body_that_cannot_be_read_is_a_documented_422(
    service: Service, route: str, content_type: str, body: bytes
) -> None:
    """Not a 400, which neither the OpenAPI document nor docs/api.md lists."""
    response = await service.http.post(route, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "body"
    async with service.raw() as anonymous:
        spec = (await anonymous.get("/openapi.json")).json()
    assert "422" in spec["paths"][route]["post"]["responses"]


async def test_runs_named_in_the_query_are_a_documented_404(service: Service) -> None:
    response = await service.http.get("/api/v1/runs/compare", params={"base": "a", "head": "b"})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    async with service.raw() as anonymous:
        spec = (await anonymous.get("/openapi.json")).json()
    assert "404" in spec["paths"]["/api/v1/runs/compare"]["get"]["responses"]


async def test_a_second_reflection_of_an_agent_is_a_documented_409(service: Service) -> None:
    """The 409 itself is proven in test_api_reflection.py; here, that the document lists it."""
    async with service.raw() as anonymous:
        spec = (await anonymous.get("/openapi.json")).json()
    responses = spec["paths"]["/api/v1/agents/{agent_id}/reflect"]["post"]["responses"]
    assert "409" in responses
    assert "reflection" in responses["409"]["description"]


async def test_malformed_json_says_where_it_broke(service: Service) -> None:
    """Line, column and the text around the mistake, not the character offset as a "field"."""
    body = b'{\n  "agent_id": "bot",\n  "test_cases": [{"name": "a", "input": "b",}]\n}'
    response = await service.http.post(
        "/api/v1/test/batch", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    (detail,) = error["details"]
    assert (detail["field"], detail["type"]) == ("body", "json_invalid")
    assert (detail["line"], detail["column"]) == (3, 45)
    assert '"input": "b",}]' in detail["excerpt"]
    assert "at line 3, column 45" in error["message"]
    assert '"input": "b",}]' in error["message"]
    assert "field" not in error["message"] and "body:" not in error["message"]
