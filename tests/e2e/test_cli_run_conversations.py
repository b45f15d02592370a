"""``aifactory run`` with conversations: progress counts them, the failure table names the
failing turn, the summary gives their figures, the reports carry their transcripts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli_run import aifactory, write

from aifactory.demo import DEMO_AGENT

SUITE = """
name: conversations
test_cases:
  - name: broken order
    turns:
      - input: My headphones arrived broken.
        checks: [{type: icontains, value: order number}]
      - input: It's A-1234.
        checks: [{type: icontains, value: replacement}]
    checks:
      - {type: tool_sequence, names: [lookup_order, send_replacement]}
  - name: never gives the number
    turns:
      - input: My headphones arrived broken.
      - input: I don't know it.
        checks: [{type: icontains, value: replacement}]
  - name: one message
    input: I forgot my password
    checks: [{type: icontains, value: reset password}]
"""


def test_progress_failures_and_summary_speak_of_conversations(tmp_path: Path) -> None:
    agent = write(tmp_path / "agent.json", json.dumps(DEMO_AGENT))
    suite = write(tmp_path / "suite.yaml", SUITE)
    report = tmp_path / "report.json"
    proc = aifactory("run", str(suite), "--agent", str(agent), "--json", str(report), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "conversations 2/2" in proc.stderr  # the progress bar
    assert "│ never gives the number │ failed │ 2    │ icontains: turn 2:" in proc.stdout
    assert "│ conversations passed " in proc.stdout
    assert "1 / 2 (50.0%)" in proc.stdout
    assert "completed 2" in proc.stdout

    results = {r["test_case"]["name"]: r for r in json.loads(report.read_text())["results"]}
    talk = results["broken order"]
    assert (talk["turns"], talk["stop_reason"]) == (2, "completed")
    assert [e["role"] for e in talk["transcript"]] == ["user", "assistant"] * 2
    assert results["one message"]["transcript"] is None
