"""The SDK's shapes against the server's: same names, same fields, in the same order.

The SDK does not import the server (``tests/unit/test_client.py``), so nothing but this keeps
its shapes and the server's answers from drifting apart: each is held to the component of the
same name in the server's OpenAPI document.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter
from tests.fakes.service import service_settings

from aifactory import client_shapes
from aifactory.api.app import create_app
from aifactory.domain.compare import Comparison
from aifactory.domain.models import TestResult
from aifactory.domain.paging import Page
from aifactory.domain.reflection import ReflectionAccepted, ReflectionPublic
from aifactory.domain.review import AgreementReport, ReviewQueue
from aifactory.domain.trend import Trend

SDK_SHAPES: list[type[BaseModel]] = [getattr(client_shapes, name) for name in client_shapes.__all__]
DOMAIN_ANSWERS: list[type[BaseModel]] = [
    AgreementReport,
    Comparison,
    ReflectionAccepted,
    ReflectionPublic,
    ReviewQueue,
    TestResult,
    Trend,
]
"""Answers the SDK reads as the domain's own records."""
PAGED: list[type[BaseModel]] = [
    client_shapes.AgentPublic,
    client_shapes.AgentVersionPublic,
    client_shapes.KeyPublic,
    client_shapes.LabelPublic,
    client_shapes.RunPublic,
    client_shapes.SuitePublic,
    ReflectionPublic,
    TestResult,
]


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    app = create_app(service_settings("sqlite+aiosqlite:///:memory:"))
    schemas: dict[str, Any] = app.openapi()["components"]["schemas"]
    return schemas


def _enum(prop: dict[str, Any], defs: dict[str, Any]) -> set[Any] | None:
    if "$ref" in prop:
        prop = defs[prop["$ref"].rsplit("/", 1)[-1]]
    return set(prop["enum"]) if "enum" in prop else None


def assert_same_fields(mine: dict[str, Any], server: dict[str, Any]) -> None:
    assert list(mine["properties"]) == list(server["properties"])
    assert set(mine.get("required", [])) == set(server.get("required", []))
    defs = mine.get("$defs", {})
    for name, prop in server["properties"].items():
        if "enum" in prop:
            assert _enum(mine["properties"][name], defs) == set(prop["enum"]), name


@pytest.mark.parametrize("shape", SDK_SHAPES, ids=lambda shape: shape.__name__)
def test_each_sdk_shape_has_the_fields_of_the_servers(
    shape: type[BaseModel], components: dict[str, Any]
) -> None:
    assert shape.__name__ in components, f"the server answers no {shape.__name__}"
    assert_same_fields(shape.model_json_schema(), components[shape.__name__])


@pytest.mark.parametrize("record", DOMAIN_ANSWERS, ids=lambda record: record.__name__)
def test_domain_records_the_sdk_reads_are_what_the_server_answers(
    record: type[BaseModel], components: dict[str, Any]
) -> None:
    assert_same_fields(record.model_json_schema(), components[record.__name__])


@pytest.mark.parametrize("item", PAGED, ids=lambda item: item.__name__)
def test_pages_have_the_fields_of_the_servers(
    item: type[BaseModel], components: dict[str, Any]
) -> None:
    mine = TypeAdapter(Page[item]).json_schema()  # type: ignore[valid-type]
    assert_same_fields(mine, components[f"Page_{item.__name__}_"])
