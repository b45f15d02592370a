"""The ``python`` check: a function of the suite's author decides (command line only).

It runs arbitrary code, so :func:`~aifactory.domain.checks.base.build_check` refuses it
whenever ``allow_python`` is false, which is always the case over the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aifactory.domain.checks.base import Check, CheckContext, Outcome, check
from aifactory.domain.checks.similarity import Threshold
from aifactory.domain.models import AgentReply, TestCase
from aifactory.errors import CheckError, CheckSpecError

UserFunction = Callable[[str, TestCase], Any]


def _load_module_from_file(path: Path) -> Any:
    # A stable, path-derived name keeps two suites' "checks.py" files apart in sys.modules.
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    name = f"aifactory_user_checks_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CheckSpecError(f"Check 'python': {path} is not a Python file.", field="function")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_function(reference: str) -> UserFunction:
    """Load ``"package.module:function"`` or ``"path/to/file.py:function"``.

    Raises:
        CheckSpecError: the reference is malformed, or the module or function is missing.
    """
    target, sep, attr = reference.rpartition(":")
    if not sep or not target or not attr:
        raise CheckSpecError(
            f"Check 'python': function {reference!r} must look like 'module:function' or "
            "'path/to/file.py:function'.",
            field="function",
        )
    try:
        if target.endswith(".py"):
            path = Path(target).expanduser().resolve()
            if not path.is_file():
                raise CheckSpecError(
                    f"Check 'python': file {target!r} does not exist (looked at {path}).",
                    field="function",
                )
            module = _load_module_from_file(path)
        else:
            module = importlib.import_module(target)
    except CheckSpecError:
        raise
    except Exception as exc:
        raise CheckSpecError(
            f"Check 'python': importing {target!r} failed: {type(exc).__name__}: {exc}.",
            field="function",
        ) from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise CheckSpecError(
            f"Check 'python': {target!r} has no function {attr!r}.", field="function"
        )
    return function  # type: ignore[no-any-return]


def interpret(result: Any, threshold: float, reference: str) -> Outcome:
    """Turn what a user function returned (bool, number or dict) into an :class:`Outcome`.

    Raises:
        CheckError: the function returned something else.
    """
    if isinstance(result, bool):
        return Outcome(float(result), result, f"{reference} returned {result}")
    if isinstance(result, int | float):
        score = float(result)
        passed = score >= threshold
        return Outcome(score, passed, f"{reference} scored {score:.2f} (threshold {threshold:g})")
    if isinstance(result, dict):
        passed_raw = result.get("passed")
        score_raw = result.get("score")
        if passed_raw is None and score_raw is None:
            raise CheckError(
                f"{reference} returned a dict without 'score' or 'passed'; return at least one."
            )
        if score_raw is not None and (
            isinstance(score_raw, bool) or not isinstance(score_raw, int | float)
        ):
            raise CheckError(f"{reference} returned a non-numeric 'score': {score_raw!r}.")
        score = float(score_raw) if score_raw is not None else float(bool(passed_raw))
        passed = bool(passed_raw) if passed_raw is not None else score >= threshold
        reason = str(result.get("reason") or f"{reference} scored {score:.2f}")
        return Outcome(score, passed, reason)
    raise CheckError(
        f"{reference} returned {type(result).__name__}; a python check must return a bool, a "
        "number in [0, 1], or a dict with 'score', 'passed' and 'reason'."
    )


@check("python")
def python(function: str, threshold: Threshold = 0.5) -> Check:
    """A Python function ``function(output, case)`` decides (command line only).

    ``function`` is ``"module:function"`` or ``"path/to/file.py:function"``. It returns a bool,
    a score in [0, 1] (passing at ``threshold``), or a dict with ``score``, ``passed`` and
    ``reason``; it may be ``async``.
    """
    user_function = load_function(function)
    is_async = inspect.iscoroutinefunction(user_function)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        try:
            if is_async:
                result = await user_function(reply.output, case)
            else:
                # The author's code may be slow; keep it off the event loop.
                result = await asyncio.to_thread(user_function, reply.output, case)
        except CheckError:
            raise
        except Exception as exc:
            raise CheckError(f"{function} raised {type(exc).__name__}: {exc}") from exc
        return interpret(result, threshold, function)

    return run
