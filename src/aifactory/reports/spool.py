"""A result sink that spools results to a JSON-lines file, so reports can stream them back."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from aifactory.domain.models import TestResult


class SpoolSink:
    """Writes each result as one JSON line; :meth:`results` reads them back one by one."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the sink
                mode="w+", suffix=".jsonl", encoding="utf-8", delete=False
            )
            self.path = Path(handle.name)
            self._file: IO[str] = handle
            self._owned = True
        else:
            self.path = Path(path)
            self._file = self.path.open("w+", encoding="utf-8")
            self._owned = False
        self.count = 0

    async def write(self, result: TestResult) -> None:
        self._file.write(result.model_dump_json())
        self._file.write("\n")
        self.count += 1

    def results(self) -> Iterator[TestResult]:
        """Every result written so far, in finishing order."""
        for line in self.json_lines():
            yield TestResult.model_validate_json(line)

    def json_lines(self) -> Iterator[str]:
        """Every result written so far as the JSON it was spooled as (a report that writes
        results as JSON copies these instead of reading and writing each again)."""
        self._file.flush()
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield line.rstrip("\n")

    def close(self) -> None:
        self._file.close()
        if self._owned:
            self.path.unlink(missing_ok=True)
