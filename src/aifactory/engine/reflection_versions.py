"""The agent versions a reflection makes, and what becomes of them.

Each candidate becomes a ``candidate`` version. The accepted one becomes the agent's current
version when ``auto_promote`` is on and nobody else changed the agent meanwhile (its current
version is still one this reflection started from or promoted); otherwise it is ``proposed``,
and an earlier accepted one that was only proposed is archived. Candidates not accepted are
archived: kept, out of the way.
"""

from __future__ import annotations

from collections.abc import Sequence

from aifactory.domain.reflection import Candidate, prompt_diff
from aifactory.engine.reflection_measures import Reference, with_prompt
from aifactory.engine.reflection_ports import ReflectionRecords
from aifactory.llm.reflector import Proposal


class Versions:
    """Makes, promotes, proposes and archives one reflection's versions of its agent.

    Args:
        records: where versions are stored.
        agent_id: the agent.
        baseline_version: the agent's version when the reflection started.
        auto_promote: whether an accepted version becomes the current one.
    """

    def __init__(
        self,
        records: ReflectionRecords,
        agent_id: str,
        *,
        baseline_version: int,
        auto_promote: bool,
    ) -> None:
        self._records = records
        self._agent_id = agent_id
        self._baseline = baseline_version
        self._auto_promote = auto_promote
        self._promoted: set[int] = set()

    async def add(self, ref: Reference, proposals: Sequence[Proposal]) -> list[Candidate]:
        """Store each proposed prompt as a candidate version made from ``ref``."""
        versions = await self._records.add_candidates(
            self._agent_id,
            [(with_prompt(ref.spec, p.text), p.rationale) for p in proposals],
            parent_version=ref.version,
        )
        parent = ref.system_prompt
        return [
            Candidate(
                version=version,
                parent_version=ref.version,
                rationale=p.rationale,
                system_prompt=p.text,
                prompt_diff=prompt_diff(
                    parent, p.text, parent_version=ref.version, child_version=version
                ),
            )
            for p, version in zip(proposals, versions, strict=True)
        ]

    async def adopt(self, version: int, *, previous: int | None) -> str:
        """Promote the accepted ``version`` (or mark it proposed); a sentence on what was done.

        Args:
            version: the accepted version.
            previous: the version accepted before it in this reflection, if any.
        """
        current: int | None = None
        if self._auto_promote:
            ours = {self._baseline, *self._promoted}
            current = await self._records.promote(self._agent_id, version, if_current_in=ours)
            if current == version:
                self._promoted.add(version)
                return f" v{version} is now the agent's current version."
        states: dict[int, str] = {}
        if previous is not None and previous not in self._promoted:
            states[previous] = "archived"
        states[version] = "proposed"
        await self._records.set_states(self._agent_id, states)
        if current is not None:
            return (
                f" It is only proposed: the agent changed to v{current} during the "
                "reflection, which is left current."
            )
        return f" v{version} is proposed (auto_promote is off)."

    async def retire(self, candidates: Sequence[Candidate]) -> None:
        """Archive the candidates that were not accepted."""
        retired = {
            c.version: "archived"
            for c in candidates
            if c.version is not None and c.verdict != "accepted"
        }
        if retired:
            await self._records.set_states(self._agent_id, retired)
