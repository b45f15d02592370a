"""Suites: stored as JSON or imported from a file, read back page by page."""

from __future__ import annotations

import asyncio

from aifactory.api.schemas import Page, SuiteCreate, SuitePublic
from aifactory.domain.models import TestCase
from aifactory.domain.records import SuiteRecord
from aifactory.domain.suites import parse_suite
from aifactory.service.validation import validate_cases
from aifactory.store import suites_repo
from aifactory.store.database import Database

IMPORT_EXTENSIONS = (".yaml", ".yml", ".json", ".jsonl", ".csv")


def suite_public(
    record: SuiteRecord, *, cases: list[TestCase] | None = None, warnings: list[str] | None = None
) -> SuitePublic:
    return SuitePublic(
        id=record.id,
        name=record.name,
        description=record.description,
        version=record.version,
        case_count=record.case_count,
        metadata=record.metadata,
        created_at=record.created_at,
        updated_at=record.updated_at,
        warnings=warnings or [],
        test_cases=cases,
    )


class SuiteService:
    def __init__(self, db: Database, *, max_bytes: int) -> None:
        self.db = db
        self.max_bytes = max_bytes

    async def create(self, body: SuiteCreate) -> SuitePublic:
        defaults = body.defaults.checks
        cases = [
            case.model_copy(update={"checks": [*case.checks, *defaults]}) if defaults else case
            for case in body.test_cases
        ]
        validate_cases(cases)
        async with self.db.write() as session:
            record = await suites_repo.create_suite(
                session,
                id=body.id,
                name=body.name,
                description=body.description,
                metadata=body.metadata,
                cases=cases,
            )
        return suite_public(record)

    async def import_file(self, filename: str, data: bytes, *, suite_id: str | None) -> SuitePublic:
        """Parse a suite file (never following file references) and store it."""
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
        return suite_public(record, warnings=suite.warnings)

    async def get(self, suite_id: str, *, cases_limit: int, cases_offset: int) -> SuitePublic:
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
        return suite_public(record, cases=cases)

    async def list(self, *, limit: int, offset: int) -> Page[SuitePublic]:
        async with self.db.session() as session:
            page = await suites_repo.list_suites(session, limit=limit, offset=offset)
        return Page[SuitePublic](
            items=[suite_public(r) for r in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    async def delete(self, suite_id: str) -> None:
        async with self.db.write() as session:
            await suites_repo.delete_suite(session, suite_id)
