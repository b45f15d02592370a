"""A run summary built from a stream of results, in memory that does not hold the results."""

from __future__ import annotations

from array import array
from collections import defaultdict

from aifactory.domain import stats
from aifactory.domain.models import ConversationStats, RunSummary, TestResult, TurnStats, Usage


class SummaryBuilder:
    """Accumulates results one at a time; :meth:`build` gives the :class:`RunSummary`.

    Keeps only numbers per result (a score and a latency as C doubles), per tag counters and,
    when cases repeat, a pass count per case for flakiness and pass@k. A conversation counts
    as one result (its repeats as whole conversations); conversations also add counters per
    stop reason and per scripted turn, and the turns each simulated user took to its goal.
    """

    def __init__(self, total: int = 0, *, repeat: int = 1) -> None:
        self.total = total
        self.repeat = repeat
        self.passed = 0
        self.failed = 0
        self.errored = 0
        self._scores = array("d")
        self._latencies = array("d")
        self._usage_in = 0
        self._usage_out = 0
        self._cost = 0.0
        self._cost_known = True
        self._judge = Usage()
        self._tags: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self._repeats: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self._names: dict[int, str] = {}
        self._simulator = Usage()
        self._conversations = _Conversations()

    @property
    def completed(self) -> int:
        return self.passed + self.failed + self.errored

    @property
    def cost_usd(self) -> float:
        """Agent, judge and simulated user cost so far (unknown prices count as zero)."""
        return self._cost + (self._judge.cost_usd or 0.0) + (self._simulator.cost_usd or 0.0)

    def add(self, result: TestResult) -> None:
        if result.status == "passed":
            self.passed += 1
        elif result.status == "failed":
            self.failed += 1
        else:
            self.errored += 1
        self._scores.append(result.score)
        if result.latency_ms is not None and result.status != "error":
            self._latencies.append(result.latency_ms)
        usage = result.usage
        self._usage_in += usage.input_tokens
        self._usage_out += usage.output_tokens
        if usage.cost_usd is None:
            if usage.input_tokens or usage.output_tokens:
                self._cost_known = False
        else:
            self._cost += usage.cost_usd
        if result.judge_usage.input_tokens or result.judge_usage.output_tokens:
            self._judge = self._judge + result.judge_usage
        simulator = result.simulator_usage
        if simulator.input_tokens or simulator.output_tokens:
            self._simulator = self._simulator + simulator
        if result.transcript is not None:
            self._conversations.add(result)
        for tag in result.test_case.tags:
            counts = self._tags[tag]
            counts[0] += result.passed
            counts[1] += 1
        if self.repeat > 1:
            counts = self._repeats[result.case_index]
            counts[0] += result.passed
            counts[1] += 1
            if result.case_index not in self._names:
                self._names[result.case_index] = result.test_case.name

    def build(self, *, stopped_reason: str | None = None) -> RunSummary:
        n = self.completed
        pass_rate = self.passed / n if n else None
        by_tag = {}
        for tag, (p, t) in sorted(self._tags.items()):
            ci = stats.wilson_interval(p, t)
            by_tag[tag] = {
                "passed": p,
                "total": t,
                "pass_rate": p / t if t else None,
                "pass_rate_ci": ci.model_dump() if ci else None,
            }
        flaky: list[str] = []
        pass_at: dict[str, float] = {}
        repeated = [c for c in self._repeats.values() if c[1] > 1]
        if repeated:
            flaky = [
                self._names[i] for i, (p, t) in sorted(self._repeats.items()) if t > 1 and 0 < p < t
            ]
            k_max = min(t for _, t in repeated)
            for k in sorted({1, k_max}):
                values = [stats.pass_at_k(t, p, k) for p, t in repeated]
                pass_at[str(k)] = sum(values) / len(values)
        usage = Usage(
            input_tokens=self._usage_in,
            output_tokens=self._usage_out,
            cost_usd=self._cost if self._cost_known else None,
        )
        cost: float | None = None
        if usage.cost_usd is not None:
            cost = (
                usage.cost_usd + (self._judge.cost_usd or 0.0) + (self._simulator.cost_usd or 0.0)
            )
        return RunSummary(
            total=max(self.total, n),
            completed=n,
            passed=self.passed,
            failed=self.failed,
            errored=self.errored,
            pass_rate=pass_rate,
            pass_rate_ci=stats.wilson_interval(self.passed, n),
            mean_score=stats.mean(self._scores),
            score_ci=stats.bootstrap_mean_interval(self._scores),
            latency_ms=stats.latency_summary(self._latencies),
            usage=usage,
            judge_usage=self._judge,
            cost_usd=cost,
            by_tag=by_tag,
            flaky_cases=flaky,
            pass_at_k=pass_at,
            stopped_reason=stopped_reason,
            simulator_usage=self._simulator,
            conversations=self._conversations.build(),
        )


class _Conversations:
    """Counters of a run's conversations."""

    def __init__(self) -> None:
        self.total = 0
        self.passed = 0
        self.replies = 0
        self.stop_reasons: dict[str, int] = defaultdict(int)
        self.by_turn: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.simulated = 0
        self.to_goal = array("d")

    def add(self, result: TestResult) -> None:
        self.total += 1
        self.passed += result.passed
        self.replies += result.turns or 0
        if result.stop_reason is not None:
            self.stop_reasons[result.stop_reason] += 1
        if result.test_case.simulated_user is not None:
            self.simulated += 1
            if result.stop_reason == "goal_reached":
                self.to_goal.append(result.turns or 0)
            return
        for entry in result.transcript or ():
            if entry.role == "assistant" and entry.turn is not None and entry.checks:
                counts = self.by_turn[entry.turn]
                counts[0] += all(c.passed for c in entry.checks)
                counts[1] += 1

    def build(self) -> ConversationStats | None:
        if not self.total:
            return None
        by_turn = {
            str(turn): TurnStats(
                passed=p,
                total=t,
                pass_rate=p / t if t else None,
                pass_rate_ci=stats.wilson_interval(p, t),
            )
            for turn, (p, t) in sorted(self.by_turn.items())
        }
        return ConversationStats(
            total=self.total,
            passed=self.passed,
            pass_rate=self.passed / self.total,
            pass_rate_ci=stats.wilson_interval(self.passed, self.total),
            mean_turns=self.replies / self.total,
            stop_reasons=dict(sorted(self.stop_reasons.items())),
            by_turn=by_turn,
            simulated=self.simulated,
            goal_reached=len(self.to_goal),
            mean_turns_to_goal=stats.mean(self.to_goal),
            turns_to_goal_ci=stats.bootstrap_mean_interval(self.to_goal, unit=False),
        )
