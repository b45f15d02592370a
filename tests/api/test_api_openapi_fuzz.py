"""Schemathesis over ``/openapi.json``, one request at a time: generated requests never get a
5xx, and every answer has a status, a content type, headers and a body that the document declares.

Generation is bounded and derandomized so the run is repeatable and short; the app, its key, the
checks and the rule that nothing generated calls out are in ``openapi_fuzz_support``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from tests.api.openapi_fuzz_support import (
    CHECKS,
    HEADERS,
    keep_local,
    open_fuzz_app,
    openapi_document,
)

# Only the document is needed at collection time; requests go to `fuzz_app`, which has a database.
schema = schemathesis.openapi.from_dict(openapi_document())
# The key comes from HEADERS: a generated Authorization (or one removed by a negative case) would
# only test the 401; `ignored_auth` still checks every operation refuses a request without it.
schema.config.generation.update(with_security_parameters=False)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    with open_fuzz_app(tmp_path_factory, "openapi-fuzz") as app:
        yield app


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_no_server_error_and_match_the_schema(
    case: Any, fuzz_app: FastAPI
) -> None:
    keep_local(case.body)
    # `ignored_auth` repeats the request without the key through the schema's own transport,
    # which must be the app's too (a document read from a dict has none).
    case.operation.schema.app = fuzz_app
    case.call_and_validate(app=fuzz_app, headers=HEADERS, checks=CHECKS)
