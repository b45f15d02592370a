"""The command line as a whole process: ``aifactory run`` of 1,000 cases, and ``aifactory --help``.

Starts the loopback agent of ``bench/agent_server.py`` (127.0.0.1, ``--latency-ms``), writes a
suite of ``--cases`` cases (``contains`` + ``regex`` checks, YAML by default) and an ``http``
agent file (``max_concurrency`` the ``--concurrency``, no rate limit), then, ``--repeats`` times,
alternating:

- ``aifactory run SUITE --agent AGENT --concurrency C --json FILE`` as a subprocess, and
- ``bench/bare_run.py``, the same requests and checks written with asyncio + aiohttp, reading
  the same files and writing a JSON result file, as a subprocess;

each process's CPU (user + system, from ``os.wait4``) and wall time. Prints the medians and the
median of the per-pair ratios (goal: ``aifactory run`` within 2x the bare script's CPU). Then
the CPU of ``aifactory --help`` next to two floors: ``python -c "import typer"`` and a
two-command Typer app's ``--help`` (Typer's Rich help alone). The load average is printed
before and after. Not part of the test suite.

    .venv/bin/python bench/cli_run.py [--cases 1000] [--repeats 5] [--latency-ms 50] [--help-only]

``--aifactory "CMD"`` runs another aifactory (e.g. ``"python -m aifactory"`` with ``PYTHONPATH``
at an older checkout's ``src``) to measure before and after on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
AIFACTORY = str(BIN / "aifactory")
TYPER_APP = """
import typer
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
@app.command()
def a(x: int = 1) -> None:
    '''One.'''
@app.command()
def b(x: int = 1) -> None:
    '''Two.'''
app()
"""


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


@contextlib.contextmanager
def agent_server(latency_ms: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "agent_server.py"), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/agent"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_files(workdir: Path, url: str, n: int, fmt: str, concurrency: int) -> tuple[Path, Path]:
    checks = [
        {"type": "contains", "value": "30 days"},
        {"type": "regex", "pattern": r'"n":\s*\d+'},
    ]
    suite = {
        "name": "cli bench",
        "test_cases": [
            {
                "name": f"case {i}",
                "input": f"Can I get a refund after {i % 90} days?",
                "checks": checks,
            }
            for i in range(n)
        ],
    }
    # No rate limit (the default is 600 a minute): the loopback agent answers as fast as it can.
    agent = {
        "id": "bench-http",
        "kind": "http",
        "config": {"url": url, "body": {"input": "{{input}}"}},
        "max_concurrency": concurrency,
        "rate_limit_per_minute": None,
    }
    suite_path = workdir / f"suite.{fmt}"
    agent_path = workdir / "agent.yaml"
    if fmt == "json":
        suite_path.write_text(json.dumps(suite), encoding="utf-8")
    else:
        suite_path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    agent_path.write_text(yaml.safe_dump(agent, sort_keys=False), encoding="utf-8")
    return suite_path, agent_path


def cpu_of(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Run ``argv``; its CPU seconds (user + system, this process only), wall seconds, status."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=HERE.parent
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    proc.stderr.close()
    if proc.returncode not in (0,):
        sys.stderr.write(errors.decode(errors="replace")[-3000:])
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, wall, proc.returncode


def passed_of(path: Path) -> int:
    document = json.loads(path.read_text(encoding="utf-8"))
    return int(document["summary"]["passed"])


def runs(args: argparse.Namespace) -> None:
    env = {**os.environ, "AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1", "COLUMNS": "120"}
    print(
        f"{args.cases} cases, agent latency {args.latency_ms:g} ms, concurrency "
        f"{args.concurrency}, checks contains + regex, {args.format} suite, "
        f"{args.repeats} repeats"
    )
    with (
        tempfile.TemporaryDirectory(prefix="aifactory-cli-bench-") as tmp,
        agent_server(args.latency_ms) as url,
    ):
        workdir = Path(tmp)
        suite, agent = write_files(workdir, url, args.cases, args.format, args.concurrency)
        ours_json, bare_json = workdir / "aifactory.json", workdir / "bare.json"
        ours_argv = [*args.aifactory, "run", str(suite), "--agent", str(agent)]
        ours_argv += ["--concurrency", str(args.concurrency), "--json", str(ours_json)]
        ours_argv += ["--quiet"] if args.quiet else []
        bare_argv = [sys.executable, str(HERE / "bare_run.py"), str(suite), str(agent)]
        bare_argv += ["--concurrency", str(args.concurrency), "--json", str(bare_json)]
        cpu_of(bare_argv, env)  # warm the page cache and the agent
        cpu_of(ours_argv, env)
        ours, bare, ratios = [], [], []
        for _ in range(args.repeats):
            bare.append(cpu_of(bare_argv, env)[:2])
            ours.append(cpu_of(ours_argv, env)[:2])
            ratios.append(ours[-1][0] / bare[-1][0])
            assert passed_of(ours_json) == passed_of(bare_json) == args.cases
    print(f"{'process':<16}{'cpu s (median)':>16}{'wall s (median)':>17}{'cpu runs':>32}")
    for name, figures in (("bare script", bare), ("aifactory run", ours)):
        cpu = [c for c, _ in figures]
        wall = [w for _, w in figures]
        shown = " ".join(f"{c:.2f}" for c in cpu)
        median_cpu, median_wall = statistics.median(cpu), statistics.median(wall)
        print(f"{name:<16}{median_cpu:>16.3f}{median_wall:>17.2f}  {shown:>30}")
    print(
        f"aifactory run / bare script CPU: median {statistics.median(ratios):.2f}x "
        f"(runs {' '.join(f'{r:.2f}' for r in ratios)}; goal <= 2.0x)"
    )


def help_figures(repeats: int, aifactory: list[str]) -> None:
    floors = {
        'python -c "import typer"': [sys.executable, "-c", "import typer"],
        "two-command Typer app --help": [sys.executable, "-c", TYPER_APP, "--help"],
        "aifactory --help": [*aifactory, "--help"],
    }
    cpu: dict[str, list[float]] = {name: [] for name in floors}
    for _ in range(repeats):
        for name, argv in floors.items():
            cpu[name].append(cpu_of(argv)[0])
    for name, figures in cpu.items():
        shown = " ".join(f"{c:.2f}" for c in figures)
        print(f"{name:<32}{statistics.median(figures):>8.3f} s CPU   (runs {shown})")
    print("goal: aifactory --help <= 0.25 s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    parser.add_argument("--quiet", action="store_true", help="run aifactory with --quiet")
    parser.add_argument("--help-repeats", type=int, default=7)
    parser.add_argument("--help-only", action="store_true", help="only the --help figures")
    parser.add_argument(
        "--aifactory", type=shlex.split, default=[AIFACTORY], help="the command to measure"
    )
    args = parser.parse_args()
    print(f"load average before: {loadavg()}")
    if not args.help_only:
        runs(args)
        print()
    help_figures(args.help_repeats, args.aifactory)
    print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    main()
