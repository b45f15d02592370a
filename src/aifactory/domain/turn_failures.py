"""Which turn of a conversation a failure belongs to, and what a case check of it judged, as the
reports, the dashboard and the command line name them."""

from __future__ import annotations

from aifactory.domain.checks import resolve_type
from aifactory.domain.conversations import failing_turns
from aifactory.domain.models import CheckSpec, TestResult
from aifactory.errors import CheckSpecError


def judged_scope(spec: CheckSpec) -> str:
    """What a case check of a conversation judged: ``last``, ``each`` or ``conversation``
    (checks of the whole conversation, such as ``turn_count``, read it whatever their scope)."""
    try:
        check_type, _negated = resolve_type(spec.type)
    except CheckSpecError:
        return spec.scope
    if check_type.whole_conversation or (check_type.across_turns and spec.scope == "last"):
        return "conversation"
    return spec.scope


def failing_turn(result: TestResult) -> str:
    """Which turn of a conversation failed: a turn's own checks, a case check of the last reply
    or of each reply, or the turn at which the conversation broke off (the agent or the
    simulated user could not answer). ``all`` when only checks of the whole conversation
    failed; empty for a single-turn case or a conversation that passed."""
    if result.transcript is None or result.passed:
        return ""
    if result.stop_reason in (None, "agent_error"):
        return str((result.turns or 0) + 1)
    turns = set(failing_turns(result))
    specs = result.test_case.checks
    for index, check in enumerate(result.checks):
        if check.passed:
            continue
        scope = judged_scope(specs[index]) if index < len(specs) else "last"
        if scope == "last" and result.turns:
            turns.add(result.turns)
        elif scope == "each" and check.details:
            turns.update(t for t in check.details.get("failed_turns", ()) if isinstance(t, int))
    if turns:
        return ", ".join(str(t) for t in sorted(turns))
    return "all"
