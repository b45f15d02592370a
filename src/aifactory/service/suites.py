"""Suites: stored as JSON or imported from a file, read back page by page."""

from __future__ import annotations

import asyncio
from typing import Any

from aifactory.domain.models import CheckSpec, TestCase
from aifactory.domain.paging import Page
from aifactory.domain.records import SuiteRecord
from aifactory.domain.suites import parse_suite
from aifactory.service.validation import validate_cases
from aifactory.store import suites_repo
from aifactory.store.database import Database

IMPORT_EXTENSIONS = (".yaml", ".yml", ".json", ".jsonl", ".csv")


class SuiteService:
    def __init__(self, db: Database, *, max_bytes: int) -> None:
        self.db = db
        self.max_bytes = max_bytes

    async def create(
        self,
        *,
        name: str,
        test_cases: list[TestCase],
        id: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        default_checks: list[CheckSpec] | None = None,
    ) -> SuiteRecord:
        """Store a suite; ``default_checks`` are added to every case's own."""
        defaults = default_checks or []
        cases = [
            case.model_copy(update={"checks": [*case.checks, *defaults]}) if defaults else case
            for case in test_cases
        ]
        validate_cases(cases)
        async with self.db.write() as session:
            return await suites_repo.create_suite(
                session,
                id=id,
                name=name,
                description=description,
                metadata=metadata or {},
                cases=cases,
            )

    async def import_file(
        self, filename: str, data: bytes, *, suite_id: str | None
    ) -> tuple[SuiteRecord, list[str]]:
        """Parse a suite file (never following file references) and store it; the stored suite
        and the warnings parsing gave."""
        # Parsing a large file is CPU work: keep the event loop answering meanwhile.
        suite = await asyncio.to_thread(
            parse_suite,
            data,
            filename=filename,
            allow_file_refs=False,
            allow_python=False,
            max_bytes=self.max_bytes,
        )
        async with self.db.write() as session:
            record = await suites_repo.create_suite(
                session,
                id=suite_id,
                name=suite.name,
                description=suite.description,
                metadata={"source": filename},
                cases=suite.test_cases,
            )
        return record, list(suite.warnings)

    async def get(
        self, suite_id: str, *, cases_limit: int, cases_offset: int
    ) -> tuple[SuiteRecord, list[TestCase]]:
        """The suite and one page of its cases."""
        async with self.db.session() as session:
            record = await suites_repo.get_suite(session, suite_id)
            cases: list[TestCase] = []
            index = 0
            async for case in suites_repo.iter_suite_cases(session, suite_id):
                if index >= cases_offset + cases_limit:
                    break
                if index >= cases_offset:
                    cases.append(case)
                index += 1
        return record, cases

    async def list(self, *, limit: int, offset: int) -> Page[SuiteRecord]:
        async with self.db.session() as session:
            return await suites_repo.list_suites(session, limit=limit, offset=offset)

    async def delete(self, suite_id: str) -> None:
        async with self.db.write() as session:
            await suites_repo.delete_suite(session, suite_id)
