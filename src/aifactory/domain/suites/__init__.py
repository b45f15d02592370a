"""Suite files: the formats ``aifactory run`` and ``POST /api/v1/suites/import`` read.

The format follows the file name's extension:

``.yaml``, ``.yml``, ``.json``
    ``{"name", "description", "defaults": {"checks", "threshold", "tags", "vars"},
    "test_cases": [TestCase, ...]}``, or a bare list of test cases. A mapping with a top-level
    ``tests`` or ``prompts`` key is a promptfoo configuration (see below).
``.jsonl``
    One test case per line; blank lines are skipped; errors name the line.
``.csv``
    A header row, then one case per row. Columns: ``name``, ``input`` (required), ``expected``,
    ``tags`` (split on ``,`` or ``|``), ``threshold``, and any number of ``check:TYPE`` columns
    whose cell holds the check's main parameter (an empty cell adds no check):

    =====================================================  =====================================
    TYPE                                                   the cell is
    =====================================================  =====================================
    equals, contains, icontains, not_contains,             ``value``
    starts_with, ends_with, similarity,
    semantic_similarity, factuality
    regex                                                  ``pattern``
    contains_any, contains_all                             ``values``: ``a|b|c`` or a JSON list
    llm_rubric                                             ``rubric``
    latency / cost                                         ``max_ms`` / ``max_usd`` (a number)
    json_schema                                            ``schema`` (a JSON object)
    json_path                                              ``path`` (with ``exists: true``)
    json_valid                                             ``contains`` (a JSON value anywhere),
                                                           or yes/true/1/x (the whole output)
    length                                                 ``MIN..MAX``, ``MIN..``, ``..MAX``;
                                                           a lone number is the maximum
    tool_called                                            ``name``
    any other type (plugins, ``python``)                   a JSON object of parameters, else
                                                           ``value``
    =====================================================  =====================================

    ``not_X`` columns take X's cell. A row without a name is named ``row N``.

The ``defaults`` of a suite are applied to every case as it loads: their checks are appended,
their threshold fills a case without one, their tags and vars are merged under the case's own.
Cases without a name are named ``test N`` (YAML, JSON), ``line N`` (JSONL) or ``row N`` (CSV).

promptfoo configurations map as promptfoo runs them: one case per test x prompt; a ``vars``
value that is a list of strings expands as a matrix (promptfoo keeps other lists whole); the
input is the prompt template filled with the vars (``{{ var }}``, dotted names and the filters
``dump``, ``safe``, ``trim``, ``upper``, ``lower``), or with no ``prompts`` the ``input`` var, else
the only var. A prompt that is a chat array becomes a conversation. The name is the test's
``description``, else ``test N``, then ``(var=value, ...)`` for a matrix and ``[prompt i]``
when there are several prompts. ``defaultTest`` applies to every test; ``not-X`` negates.
Assertion types without a counterpart, and ``file://`` references that cannot be resolved
(``allow_file_refs=False``, as over the API: all of them), refuse the whole file.

Loading is safe for untrusted files: a size limit, strict UTF-8, the safe YAML loader with a
guard against alias bombs and recursive aliases, and a nesting depth limit. Every problem is a
:class:`~aifactory.errors.SuiteError` naming the file, the case and the field.
"""

from __future__ import annotations

from aifactory.domain.suites.loader import dump_suite, iter_cases, load_suite, parse_suite
from aifactory.domain.suites.model import (
    DEFAULT_MAX_BYTES,
    MAX_CASES,
    MAX_DEPTH,
    SUITE_EXTENSIONS,
    Suite,
    SuiteDefaults,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_CASES",
    "MAX_DEPTH",
    "SUITE_EXTENSIONS",
    "Suite",
    "SuiteDefaults",
    "dump_suite",
    "iter_cases",
    "load_suite",
    "parse_suite",
]
