"""``aifactory.__all__``: every type a client method returns is exported; every name resolves."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

import aifactory
from aifactory.client import AsyncClient, Client


def classes_in(annotation: Any) -> Iterator[type]:
    """Every class an annotation names: ``Page[X]``, ``list[X]``, ``X | None`` unwrapped."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        generic = annotation.__pydantic_generic_metadata__
        if generic["origin"] is not None:  # Page[X] is a class of its own
            yield generic["origin"]
            for arg in generic["args"]:
                yield from classes_in(arg)
            return
    origin = typing.get_origin(annotation)
    if origin is not None:
        if isinstance(origin, type):
            yield origin
        for arg in typing.get_args(annotation):
            yield from classes_in(arg)
    elif isinstance(annotation, type):
        yield annotation


def returned_classes(client: type) -> dict[str, type]:
    """The classes of aifactory's own that the public methods of ``client`` return."""
    found: dict[str, type] = {}
    for name, method in inspect.getmembers(client, inspect.isfunction):
        if name.startswith("_"):
            continue
        returned = typing.get_type_hints(method)["return"]
        for cls in classes_in(returned):
            if cls.__module__.split(".")[0] == "aifactory":
                found[f"{client.__name__}.{name} -> {cls.__name__}"] = cls
    return found


RETURNED = {**returned_classes(Client), **returned_classes(AsyncClient)}


def test_the_walk_finds_what_the_methods_return() -> None:
    names = {cls.__name__ for cls in RETURNED.values()}
    # The page and what it holds, a domain record, an SDK shape, a reflection.
    assert {"Page", "AgentPublic", "TestResult", "RunStatusPublic", "ReflectionPublic"} <= names
    assert not names & {"dict", "bytes", "NoneType"}


@pytest.mark.parametrize("where", sorted(RETURNED))
def test_every_returned_type_is_exported(where: str) -> None:
    cls = RETURNED[where]
    assert cls.__name__ in aifactory.__all__
    assert getattr(aifactory, cls.__name__) is cls


def test_every_exported_name_resolves() -> None:
    for name in aifactory.__all__:
        assert getattr(aifactory, name) is not None, name
    assert set(aifactory.__all__) == {*aifactory._LAZY, "__version__"}
    assert aifactory.__all__ == sorted(aifactory.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        aifactory.Nope  # noqa: B018


def test_the_walk_unwraps_unions_and_containers() -> None:
    from aifactory.client_shapes import RunPublic
    from aifactory.domain.models import TestResult

    annotation = list[RunPublic] | Iterator[TestResult] | None
    assert set(classes_in(annotation)) >= {RunPublic, TestResult, types.NoneType}
