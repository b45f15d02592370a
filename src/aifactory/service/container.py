"""``Services``: every use case of one process, built once by the composition root.

The API's routes and the dashboard's pages read the same instance (from the app's state); neither
builds a service of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from aifactory.service.agents import AgentService
from aifactory.service.auth import Authenticator
from aifactory.service.insights import InsightService
from aifactory.service.keys import KeyService
from aifactory.service.operations import OperationsService
from aifactory.service.reflection import ReflectionService
from aifactory.service.review import ReviewService
from aifactory.service.runs import RunService
from aifactory.service.sessions import Sessions
from aifactory.service.suites import SuiteService
from aifactory.settings import Settings
from aifactory.store.database import Database


@dataclass(slots=True)
class Services:
    """Everything the routes and pages call."""

    settings: Settings
    db: Database
    auth: Authenticator
    sessions: Sessions
    agents: AgentService
    suites: SuiteService
    runs: RunService
    keys: KeyService
    insights: InsightService
    operations: OperationsService
    reflections: ReflectionService
    review: ReviewService
    queue_info: dict[str, object]
