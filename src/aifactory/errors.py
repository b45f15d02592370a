"""The exception tree of aifactory.

Every error the library raises on purpose derives from :class:`AIFactoryError`::

    AIFactoryError
    ├── ConfigError                 bad settings or agent configuration
    ├── SuiteError                  a suite file that cannot be read (names file, case, field)
    ├── CheckSpecError              a check spec that cannot be valid (unknown type, bad parameter)
    ├── CheckError                  a check that could not run (time limit, judge down, ...)
    │   └── JudgeError              the judge could not give a verdict
    ├── AgentError                  the agent under test could not answer
    │   ├── AgentTimeout
    │   ├── AgentHTTPError          non-2xx answer from an http agent
    │   ├── AgentResponseError      an answer that cannot be understood
    │   └── BlockedAddressError     SSRF guard refused the agent's address
    ├── LLMError                    a provider call failed after the retry policy gave up
    │   ├── LLMRateLimited
    │   └── LLMTimeout
    └── BudgetExceeded              the run's cost budget is spent

Vendor errors are translated at the boundary (``raise AgentTimeout(...) from exc``).
"""

from __future__ import annotations


class AIFactoryError(Exception):
    """Base of every error aifactory raises on purpose."""


class ConfigError(AIFactoryError):
    """Settings or an agent configuration that cannot be used."""


class SuiteError(AIFactoryError):
    """A suite file that cannot be read; the message names the file, case and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        case: str | None = None,
        field: str | None = None,
    ) -> None:
        parts = [
            p
            for p in (file and f"{file}", case and f"case {case!r}", field and f"field {field!r}")
            if p
        ]
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.file = file
        self.case = case
        self.field = field
        self.detail = message


class CheckSpecError(AIFactoryError):
    """A check specification that can never be valid."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CheckError(AIFactoryError):
    """A check that could not run; its result is an ``error``, never a pass."""


class JudgeError(CheckError):
    """The judge could not give a usable verdict."""


class AgentError(AIFactoryError):
    """The agent under test could not produce an answer."""


class AgentTimeout(AgentError):
    """The agent did not answer within its time limit."""


class AgentHTTPError(AgentError):
    """An http agent answered with a non-success status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class AgentResponseError(AgentError):
    """The agent answered something that cannot be understood."""


class BlockedAddressError(AgentError):
    """The SSRF guard refused the address an http agent points at."""


class LLMError(AIFactoryError):
    """A provider call failed after the retry policy gave up."""


class LLMRateLimited(LLMError):
    """The provider kept answering 429."""


class LLMTimeout(LLMError):
    """The provider did not answer in time."""


class BudgetExceeded(AIFactoryError):
    """The run's cost budget is spent."""
