"""What a user would write instead of ``aifactory run``: the floor ``bench/cli_run.py`` measures
it against.

Reads the suite (YAML or JSON: ``test_cases`` with ``contains`` and ``regex`` checks) and the
agent file (an ``http`` agent whose body sends ``{{input}}``), posts every case with aiohttp at
the given concurrency, checks each reply, writes every result and a summary as JSON, and exits
0 when every case passed, 1 otherwise. Asyncio, aiohttp and PyYAML only.

    python bench/bare_run.py SUITE AGENT_FILE --concurrency 20 --json results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml


def read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def body_of(template: Any, text: str) -> Any:
    if isinstance(template, str):
        return template.replace("{{input}}", text)
    if isinstance(template, dict):
        return {k: body_of(v, text) for k, v in template.items()}
    if isinstance(template, list):
        return [body_of(v, text) for v in template]
    return template


def grade(output: str, checks: list[dict[str, Any]]) -> list[str]:
    """What failed, one reason per failed check."""
    failed = []
    for check in checks:
        if check["type"] == "contains" and check["value"] not in output:
            failed.append(f"does not contain {check['value']!r}")
        elif check["type"] == "regex" and re.search(check["pattern"], output) is None:
            failed.append(f"does not match {check['pattern']!r}")
    return failed


async def run(suite: Any, agent: Any, concurrency: int) -> list[dict[str, Any]]:
    config = agent["config"]
    url, template = config["url"], config.get("body", {"input": "{{input}}"})
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=config.get("timeout_s", 30))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(case: dict[str, Any]) -> dict[str, Any]:
            async with sem:
                started = time.perf_counter()
                try:
                    async with session.post(url, json=body_of(template, case["input"])) as resp:
                        resp.raise_for_status()
                        output = json.loads(await resp.read())["output"]
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                    return {"name": case["name"], "status": "error", "error": repr(exc)}
                latency_ms = (time.perf_counter() - started) * 1000
            failed = grade(output, case.get("checks", []))
            return {
                "name": case["name"],
                "status": "failed" if failed else "passed",
                "output": output,
                "reasons": failed,
                "latency_ms": round(latency_ms, 2),
            }

        return await asyncio.gather(*(one(case) for case in suite["test_cases"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("agent", type=Path)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    results = asyncio.run(run(read(args.suite), read(args.agent), args.concurrency))
    passed = sum(r["status"] == "passed" for r in results)
    summary = {"total": len(results), "passed": passed, "failed": len(results) - passed}
    args.json.write_text(json.dumps({"summary": summary, "results": results}), encoding="utf-8")
    print(f"{passed} of {len(results)} passed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
