"""Suites: JSON, file import in every format, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fakes.service import Service

from aifactory.client import APIStatusError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "promptfoo"


async def test_import_yaml_csv_and_jsonl(service: Service) -> None:
    yaml_suite = await service.client.import_suite(
        "s.yaml", content=b"name: S\ntest_cases:\n  - {name: a, input: b}\n"
    )
    assert (yaml_suite.name, yaml_suite.case_count) == ("S", 1)
    csv_suite = await service.client.import_suite(
        "s.csv", content=b"name,input,expected,check:contains\nr1,hello,hi,hi\nr2,bye,,\n"
    )
    assert csv_suite.case_count == 2
    stored = await service.client.get_suite(csv_suite.id)
    assert stored.test_cases is not None
    assert stored.test_cases[0].checks[0].type == "contains"
    jsonl = await service.client.import_suite(
        "s.jsonl", content=b'{"name": "a", "input": "b"}\n{"name": "c", "input": "d"}\n'
    )
    assert jsonl.case_count == 2
    assert (await service.client.list_suites()).total == 3


async def test_import_promptfoo_config(service: Service) -> None:
    suite = await service.client.import_suite(FIXTURES / "getting-started.yaml")
    assert suite.case_count > 0
    assert any("providers" in w for w in suite.warnings)


async def test_import_refuses_file_references_and_python(service: Service) -> None:
    with pytest.raises(APIStatusError) as refs:
        await service.client.import_suite(
            "p.yaml", content=b"prompts: [file://prompt.txt]\ntests:\n  - vars: {input: x}\n"
        )
    assert refs.value.status == 422
    with pytest.raises(APIStatusError) as python:
        await service.client.import_suite(
            "p.yaml",
            content=(
                b"test_cases:\n  - name: a\n    input: b\n"
                b"    checks: [{type: python, function: 'os:getcwd'}]\n"
            ),
        )
    assert python.value.status == 422
    with pytest.raises(APIStatusError) as ext:
        await service.client.import_suite("p.txt", content=b"hello")
    assert ext.value.status == 422


async def test_suite_crud(service: Service) -> None:
    created = await service.client.create_suite(
        {"id": "smoke", "name": "Smoke", "test_cases": [{"name": "a", "input": "b"}]}
    )
    assert created.id == "smoke"
    with pytest.raises(APIStatusError) as taken:
        await service.client.create_suite(
            {"id": "smoke", "name": "Smoke", "test_cases": [{"name": "a", "input": "b"}]}
        )
    assert taken.value.status == 409
    await service.client.delete_suite("smoke")
    with pytest.raises(APIStatusError) as gone:
        await service.client.get_suite("smoke")
    assert gone.value.status == 404
