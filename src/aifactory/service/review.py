"""Human review: labels on results, the review queue, the judges' agreement, the golden set.

A reviewer is the API key that writes a label (its name is shown, its id decides who may delete
the label). What a label counts for, agreement and the queue's strategies are the domain's
(:mod:`aifactory.domain.review`, :mod:`aifactory.domain.agreement`); the queries are the store's
(:mod:`aifactory.store.labels_repo`, :mod:`aifactory.store.review_repo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from aifactory.domain.models import RunReview, TestCase, TestResult
from aifactory.domain.review import (
    REVIEW_STRATEGIES,
    AgreementReport,
    Label,
    ReviewQueue,
    ReviewStrategy,
    judge_agreement,
    judged_check,
    majority,
    run_review,
)
from aifactory.domain.suites.loader import dump_suite
from aifactory.domain.suites.model import Suite
from aifactory.errors import Forbidden, InvalidInput
from aifactory.service.auth import Principal
from aifactory.store import labels_repo, results_repo, review_repo, runs_repo
from aifactory.store.database import Database

ExportFormat = Literal["yaml", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("yaml", "jsonl")
EXPORT_MEDIA_TYPES = {"yaml": "application/yaml", "jsonl": "application/jsonl"}
MAX_QUEUE = 100
MAX_EXPORT = 10_000
"""Most labeled results one golden set holds (the most recently labeled)."""
GOLDEN_TAG = "golden"


class ReviewService:
    """Labels, the review queue, agreement and the golden set."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- labels ---------------------------------------------------------------------------------

    async def add_label(
        self,
        result_id: str,
        *,
        passed: bool,
        reviewer: Principal,
        check: int | None = None,
        score: float | None = None,
        comment: str | None = None,
    ) -> Label:
        """Label a finished result, or one of its checks (``check``: the check's index).

        Raises:
            NotFound: no such finished result.
            InvalidInput: ``check`` is not the index of one of the result's checks.
        """
        async with self.db.write() as session:
            result = await results_repo.get_result(session, result_id)
            if check is not None and not 0 <= check < len(result.checks):
                raise InvalidInput(
                    f"The result has {len(result.checks)} checks; 'check' is the index of one "
                    f"of them (0 to {len(result.checks) - 1}), not {check}.",
                    details=[{"loc": ["body", "check"], "msg": "no such check"}],
                )
            assert result.run_id is not None
            run = await runs_repo.get_run(session, result.run_id)
            return await labels_repo.add_label(
                session,
                result,
                suite_id=run.suite_id,
                check=check,
                judged=judged_check(result, check),
                passed=passed,
                score=score,
                comment=comment,
                reviewer=reviewer.name,
                api_key_id=reviewer.key_id,
            )

    async def list_labels(self, result_id: str) -> list[Label]:
        """A finished result's labels, oldest first.

        Raises:
            NotFound: no such finished result.
        """
        async with self.db.session() as session:
            await results_repo.get_result(session, result_id)
            return await labels_repo.list_labels(session, result_id)

    async def delete_label(self, label_id: str, *, caller: Principal) -> None:
        """Delete a label: its reviewer's key may, and so may an admin's.

        Raises:
            NotFound: no such label.
            Forbidden: another reviewer's label, and the caller is not an admin.
        """
        async with self.db.write() as session:
            label = await labels_repo.get_label(session, label_id)
            if label.api_key_id != caller.key_id and not caller.allows("admin"):
                raise Forbidden(
                    f"Label {label_id!r} is {label.reviewer!r}'s: only its reviewer or an admin "
                    "key may delete it."
                )
            await labels_repo.delete_label(session, label_id)

    async def with_reviews(self, results: Sequence[TestResult]) -> None:
        """Set each result's ``review`` from its labels (results read elsewhere)."""
        async with self.db.session() as session:
            await labels_repo.with_reviews(session, results)

    async def run_review(self, run_id: str) -> RunReview:
        """A run's labeled results: the people's pass rate next to the checks' on them."""
        async with self.db.session() as session:
            return run_review(await labels_repo.run_verdicts(session, run_id))

    # -- the queue ------------------------------------------------------------------------------

    async def queue(
        self,
        *,
        strategy: ReviewStrategy,
        reviewer: Principal,
        run_id: str | None = None,
        agent_id: str | None = None,
        limit: int = 10,
    ) -> ReviewQueue:
        """The results most worth ``reviewer``'s time, each with why it is there.

        ``uncertain`` and ``disagreement`` never offer a result the reviewer has labeled;
        ``unlabeled`` offers results nobody has.

        Raises:
            InvalidInput: not exactly one of ``run_id`` and ``agent_id``, or an unknown strategy.
            NotFound: no such run or agent.
        """
        if (run_id is None) == (agent_id is None):
            raise InvalidInput(
                "Give the review queue a run_id or an agent_id (one of them).",
                details=[{"loc": ["query", "run_id"], "msg": "run_id or agent_id is required"}],
            )
        if strategy not in REVIEW_STRATEGIES:
            raise InvalidInput(
                f"The strategy is one of {', '.join(REVIEW_STRATEGIES)}, not {strategy!r}.",
                details=[{"loc": ["query", "strategy"], "msg": "unknown strategy"}],
            )
        limit = max(1, min(limit, MAX_QUEUE))
        async with self.db.session() as session:
            if run_id is not None:
                await runs_repo.get_run(session, run_id)
            else:
                assert agent_id is not None
                await review_repo.agent_name(session, agent_id)
            if strategy == "unlabeled":
                items = await review_repo.unlabeled(
                    session, run_id=run_id, agent_id=agent_id, limit=limit
                )
            elif strategy == "uncertain":
                items = await review_repo.uncertain(
                    session, run_id=run_id, agent_id=agent_id, limit=limit, reviewer=reviewer.name
                )
            else:
                items = await review_repo.disputed(
                    session, run_id=run_id, agent_id=agent_id, limit=limit, reviewer=reviewer.name
                )
        return ReviewQueue(strategy=strategy, items=items)

    # -- agreement ------------------------------------------------------------------------------

    async def agreement(
        self,
        *,
        agent_id: str | None = None,
        suite_id: str | None = None,
        check_type: str | None = None,
    ) -> AgreementReport:
        """Each judge criterion's agreement with the people, over the labels in scope."""
        async with self.db.session() as session:
            votes = await labels_repo.agreement_votes(
                session, agent_id=agent_id, suite_id=suite_id, check_type=check_type
            )
        return AgreementReport(items=judge_agreement(votes))

    # -- the golden set -------------------------------------------------------------------------

    async def golden_set(self, agent_id: str, *, name: str | None = None) -> Suite:
        """The agent's labeled cases as a suite: the people's verdicts as regression tests.

        One case per case name (its most recently labeled result), whose people's verdict is
        the majority of its reviewers' latest result-level labels (results without one are
        left out). The case keeps its input, checks and expected answer; a case people passed
        that had no expected answer gets the output they approved as one. Its tags gain
        ``golden`` and ``human-pass`` or ``human-fail``, its metadata the review.

        Raises:
            NotFound: no such agent.
        """
        async with self.db.session() as session:
            agent_name = await review_repo.agent_name(session, agent_id)
            ids = await labels_repo.labeled_result_ids(session, agent_id=agent_id, limit=MAX_EXPORT)
            results: list[TestResult] = []
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                found = {r.id: r for r in await review_repo.results_by_id(session, chunk)}
                results.extend(found[i] for i in chunk if i in found)
            labels = await labels_repo.labels_of(session, ids)
        cases: dict[str, TestCase] = {}
        for result in results:
            assert result.id is not None
            case = _golden_case(result, labels.get(result.id, []))
            if case is not None and case.name not in cases:
                cases[case.name] = case
        return Suite(
            name=name or f"{agent_name or agent_id} golden set",
            description=f"Cases of agent {agent_id} as people labeled them.",
            test_cases=list(cases.values()),
        )

    async def export(self, agent_id: str, fmt: ExportFormat = "yaml") -> tuple[bytes, str]:
        """The golden set as a suite file (``yaml`` or ``jsonl``): (body, media type).

        Raises:
            NotFound: no such agent.
            InvalidInput: no labeled result of the agent has a people's verdict, or an unknown
                format.
        """
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(
                f"A golden set is written as yaml or jsonl, not {fmt!r}.",
                details=[{"loc": ["query", "format"], "msg": "yaml or jsonl"}],
            )
        suite = await self.golden_set(agent_id)
        if not suite.test_cases:
            raise InvalidInput(
                f"Agent {agent_id!r} has no labeled result with a people's verdict yet: label "
                "some results (pass or fail) first.",
            )
        return dump_suite(suite, fmt=fmt).encode("utf-8"), EXPORT_MEDIA_TYPES[fmt]


def _golden_case(result: TestResult, labels: Sequence[Label]) -> TestCase | None:
    latest: dict[str, Label] = {}
    for label in labels:
        if label.check is None:
            seen = latest.get(label.reviewer)
            if seen is None or (label.created_at, label.id) > (seen.created_at, seen.id):
                latest[label.reviewer] = label
    verdict = majority([lb.passed for lb in latest.values()])
    if verdict is None:
        return None
    case = result.test_case
    tags = [t for t in case.tags if t not in (GOLDEN_TAG, "human-pass", "human-fail")]
    tags += [GOLDEN_TAG, "human-pass" if verdict else "human-fail"]
    review = {
        "passed": verdict,
        "reviewers": sorted(latest),
        "comments": [lb.comment for lb in latest.values() if lb.comment],
        "result_id": result.id,
        "judge_passed": result.passed,
    }
    update: dict[str, object] = {"tags": tags, "metadata": {**case.metadata, "review": review}}
    if verdict and case.expected is None and result.output:
        update["expected"] = result.output
    return case.model_copy(update=update)
