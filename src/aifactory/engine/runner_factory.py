"""``RunnerFactory``: builds each run's agent and case runner from a process's shared parts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from aifactory.agents.base import Agent
from aifactory.domain.checks import CheckContext, Judge
from aifactory.domain.conversations import SimulatorSource
from aifactory.domain.models import AgentSpec
from aifactory.engine.cache import ResponseCache
from aifactory.engine.case_runner import CaseRunner, CaseRunnerOptions
from aifactory.engine.limits import RateLimiter, TokenBucket, Unlimited
from aifactory.llm.factory import LLMClients
from aifactory.settings import Settings


def agent_key(spec: AgentSpec, version: int | None = None) -> str:
    """A stable identity of an agent version, for the response cache."""
    blob = json.dumps(
        {"kind": spec.kind, "config": spec.config, "id": spec.id, "version": version},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def rate_limiter(spec: AgentSpec) -> RateLimiter:
    """The in-process limiter for an agent's ``rate_limit_per_minute``."""
    if spec.rate_limit_per_minute is None:
        return Unlimited()
    return TokenBucket(spec.rate_limit_per_minute, burst=spec.max_concurrency)


@dataclass(slots=True)
class RunnerFactory:
    """Makes the agents and case runners of a process's runs, from the parts they all share:
    the settings, the provider clients and the judge (built by the composition root)."""

    settings: Settings
    clients: LLMClients
    judge: Judge | None
    simulators: SimulatorSource | None = None
    """The simulated users of conversation cases (default: made from the settings and the
    clients, one per model)."""

    def __post_init__(self) -> None:
        if self.simulators is None:
            from aifactory.llm.simulator import LLMSimulators

            self.simulators = LLMSimulators(self.settings, self.clients)

    def context(self, *, allow_python: bool) -> CheckContext:
        return CheckContext(
            judge=self.judge,
            regex_timeout_s=self.settings.regex_timeout_s,
            allow_python=allow_python,
        )

    def agent(self, spec: AgentSpec) -> Agent:
        from aifactory.agents.factory import build_agent

        return build_agent(spec, self.settings, clients=self.clients)

    def case_runner(
        self,
        spec: AgentSpec,
        agent: Agent,
        *,
        version: int | None = None,
        options: CaseRunnerOptions | None = None,
        cache: ResponseCache | None = None,
    ) -> CaseRunner:
        opts = options or CaseRunnerOptions()
        return CaseRunner(
            agent=agent,
            ctx=self.context(allow_python=opts.allow_python),
            agent_key=agent_key(spec, version),
            options=opts,
            cache=cache,
            simulators=self.simulators,
        )
