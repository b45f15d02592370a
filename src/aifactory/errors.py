"""The exception tree of aifactory.

Every error the library raises on purpose derives from :class:`AIFactoryError`. The domain's
errors are defined here; the store raises them too, and the API turns each into its HTTP answer
in one place (:mod:`aifactory.api.errors`), where its own few HTTP-only errors live::

    AIFactoryError
    ├── ConfigError                 bad settings or agent configuration
    │   └── UnpricedBudget          (engine/budget.py) a budget over a model without a price
    ├── InvalidInput                input a caller sent that cannot be used (details name fields)
    ├── NotFound                    a record that does not exist (the store and services)
    ├── Conflict                    a taken id, a reused idempotency key, a busy agent
    ├── Unavailable                 a part a call needs is down or full: retry later
    ├── AccessError                 who is calling may not do this
    │   ├── Unauthorized            no key, or a key that is unknown or revoked
    │   ├── Forbidden               the key lacks the scope
    │   └── RateLimited             too many calls or failed attempts: retry later
    ├── SuiteError                  a suite file that cannot be read (names file, case, field)
    ├── CheckSpecError              a check spec that cannot be valid (unknown type, bad parameter)
    ├── CheckError                  a check that could not run (time limit, judge down, ...)
    │   └── JudgeError              the judge could not give a verdict
    ├── SimulatorError              the simulated user could not say its next message
    ├── ReflectorError              (llm/reflector.py) the reflector gave no usable proposal
    ├── AgentError                  the agent under test could not answer
    │   ├── AgentTimeout
    │   ├── AgentHTTPError          non-2xx answer from an http agent
    │   ├── AgentResponseError      an answer that cannot be understood
    │   └── BlockedAddressError     SSRF guard refused the agent's address
    ├── LLMError                    a provider call failed after the retry policy gave up
    │   ├── LLMRateLimited
    │   └── LLMTimeout
    ├── APIError                    (api/errors.py) HTTP-only: a body over the size limit
    └── APIStatusError              (client.py) the SDK's view of an error answer

Vendor errors are translated at the boundary (``raise AgentTimeout(...) from exc``).
"""

from __future__ import annotations

from typing import Any


class AIFactoryError(Exception):
    """Base of every error aifactory raises on purpose."""


class ConfigError(AIFactoryError):
    """Settings or an agent configuration that cannot be used."""


class InvalidInput(AIFactoryError):
    """Input a caller sent that cannot be used; ``details`` names the fields and what is wrong."""

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(AIFactoryError):
    """A record that does not exist (or was deleted)."""

    def __init__(self, kind: str, id: str) -> None:
        super().__init__(f"No {kind} with id {id!r} exists. Check the id, or list the {kind}s.")
        self.kind = kind
        self.id = id


class Conflict(AIFactoryError):
    """A write that clashes with what is stored: a taken id, a reused idempotency key."""

    def __init__(self, message: str, *, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


class Unavailable(AIFactoryError):
    """A part the call needs is down or full; the caller should retry after ``retry_after`` s."""

    def __init__(self, message: str, *, retry_after: int = 5, code: str = "unavailable") -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.code = code


class AccessError(AIFactoryError):
    """Who is calling may not do this."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(AccessError):
    """No key, a malformed one, or a key that is unknown or revoked."""


class Forbidden(AccessError):
    """The key is valid but lacks the scope the operation needs."""


class RateLimited(AccessError):
    """Too many calls (or failed attempts); retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


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


class SimulatorError(AIFactoryError):
    """The simulated user's model is not configured, down after its retries, or gave no usable
    answer; ``usage`` is what the attempts cost."""

    def __init__(self, message: str, *, usage: Any = None) -> None:
        super().__init__(message)
        self.usage = usage


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
