"""promptfoo configurations read as suites: the real fixtures and the mapping rules."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from aifactory.domain.grading import grade
from aifactory.domain.models import Message
from aifactory.domain.suites import Suite, load_suite, parse_suite
from aifactory.errors import SuiteError

REPO = Path(__file__).resolve().parents[3]
SHARED_FIXTURES = REPO / ".." / "shared" / "fixtures" / "promptfoo"
FIXTURES = REPO / "tests" / "fixtures" / "promptfoo"
PROVIDERS_WARNING = "promptfoo 'providers' are ignored"


def pf(text: str, **kwargs: Any) -> Suite:
    return parse_suite(textwrap.dedent(text), filename="promptfooconfig.yaml", **kwargs)


def checks_of(suite: Suite, index: int = 0) -> list[dict[str, Any]]:
    return [c.model_dump(exclude_defaults=True) for c in suite.test_cases[index].checks]


# --------------------------------------------------------------------------- the fixtures


def test_the_fixture_copy_matches_the_shared_fixtures() -> None:
    copies = sorted(p.name for p in FIXTURES.glob("*.yaml"))
    assert len(copies) == 9
    for shared in (d for d in (SHARED_FIXTURES,) if d.is_dir()):
        assert sorted(p.name for p in shared.glob("*.yaml")) == copies
        for name in copies:
            assert (FIXTURES / name).read_bytes() == (shared / name).read_bytes()


# file -> (cases, suite name, first names, first input); every fixture maps, none is refused.
FIXTURE_EXPECTATIONS = {
    "cohere-simple.yaml": (
        1,
        "cohere-simple",
        ["test 1"],
        "Write a tweet about the person who discovered gravity",
    ),
    "getting-started.yaml": (
        4,
        "Getting started",
        ["test 1 [prompt 1]", "test 1 [prompt 2]", "test 2 [prompt 1]", "test 2 [prompt 2]"],
        "Convert this English to French: Hello world",
    ),
    "gpt-4o-vs-4o-mini.yaml": (
        15,
        "gpt-4o-vs-4o-mini",
        ["test 1", "test 2", "test 3"],
        "Solve this riddle: I speak without a mouth and hear without ears. I have no body, but "
        "I come alive with wind. What am I?",
    ),
    "groq.yaml": (
        4,
        "Groq Provider Demo",
        ["test 1 [prompt 1]", "test 1 [prompt 2]", "test 2 [prompt 1]"],
        "Answer this question as concisely as possible: 25 * 4 + 10",
    ),
    "mistral-comparison.yaml": (
        2,
        "Compare reasoning capabilities across Mistral models",
        ["test 1", "test 2"],
        "Solve this step by step: A company has 100 employees. 60% work remotely, 25% work "
        "hybrid, and the rest work in office. If remote workers get a $200 stipend and hybrid "
        "workers get $100, what's the total monthly stipend cost?",
    ),
    "mistral-llama-comparison.yaml": (
        8,
        "mistral-llama-comparison",
        ["test 1", "test 2"],
        "hello world",
    ),
    "mistral-reasoning.yaml": (
        3,
        "Advanced reasoning with Mistral Magistral models",
        ["test 1", "test 2", "test 3"],
        "Think through this problem step by step: A farmer has chickens and rabbits in a pen. "
        "There are 30 heads and 74 legs total. How many chickens and how many rabbits are "
        "there?",
    ),
    "perplexity-ai.yaml": (
        2,
        "perplexity-ai",
        ["test 1", "test 2"],
        "What are the latest scientific discoveries about dark matter? Please include citations.",
    ),
    "phi-vs-llama.yaml": (16, "Phi vs Llama", ["test 1", "test 2"], "Write a tweet about bananas"),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(FIXTURE_EXPECTATIONS) == sorted(p.name for p in FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("filename", sorted(FIXTURE_EXPECTATIONS))
def test_each_fixture_loads_with_the_expected_cases(filename: str) -> None:
    count, name, first_names, first_input = FIXTURE_EXPECTATIONS[filename]
    suite = load_suite(FIXTURES / filename)
    assert len(suite.test_cases) == count
    assert suite.name == name
    assert [c.name for c in suite.test_cases[: len(first_names)]] == first_names
    assert suite.test_cases[0].input == first_input
    assert len({c.name for c in suite.test_cases}) == count  # names are unique
    assert any(PROVIDERS_WARNING in w for w in suite.warnings)


@pytest.mark.parametrize("filename", sorted(FIXTURE_EXPECTATIONS))
def test_each_fixture_loads_over_the_api_too(filename: str) -> None:
    # None of them uses a file reference, so refusing file references changes nothing.
    data = (FIXTURES / filename).read_bytes()
    over_api = parse_suite(data, filename=filename, allow_file_refs=False, allow_python=False)
    assert over_api.test_cases == load_suite(FIXTURES / filename).test_cases


def test_getting_started_maps_prompts_vars_and_assertions() -> None:
    suite = load_suite(FIXTURES / "getting-started.yaml")
    assert [c.input for c in suite.test_cases] == [
        "Convert this English to French: Hello world",
        "Translate to French: Hello world",
        "Convert this English to Spanish: Where is the library?",
        "Translate to Spanish: Where is the library?",
    ]
    assert checks_of(suite, 0) == [{"type": "contains", "value": "Bonjour le monde"}]
    assert checks_of(suite, 3) == [{"type": "icontains", "value": "Dónde está la biblioteca"}]
    assert suite.test_cases[0].vars == {"language": "French", "input": "Hello world"}
    assert suite.description == "Getting started"


def test_gpt_4o_default_test_assertions_come_first_on_every_case() -> None:
    suite = load_suite(FIXTURES / "gpt-4o-vs-4o-mini.yaml")
    defaults = [{"type": "cost", "max_usd": 0.002}, {"type": "latency", "max_ms": 3000}]
    assert all(checks_of(suite, i)[:2] == defaults for i in range(15))
    assert checks_of(suite, 0)[2:] == [
        {"type": "contains", "value": "echo"},
        {"type": "llm_rubric", "rubric": "Do not apologize"},
    ]
    assert checks_of(suite, 3) == defaults  # a test with no assertions of its own
    # folded YAML (>-) arrives as one line
    assert suite.test_cases[3].input == (
        "Solve this riddle: I have keys but no locks. I have space but no room. You can enter, "
        "but can’t go outside. What am I?"
    )


def test_mistral_reasoning_maps_contains_any_lists() -> None:
    suite = load_suite(FIXTURES / "mistral-reasoning.yaml")
    assert checks_of(suite, 2)[2] == {
        "type": "contains_any",
        "values": ["20 minutes", "20 min", "17 gallons/minute", "17 gal/min"],
    }


def test_fixture_tests_without_assertions_have_no_checks_and_pass() -> None:
    suite = load_suite(FIXTURES / "phi-vs-llama.yaml")
    assert all(case.checks == [] for case in suite.test_cases)
    status, passed, score, _ = grade(suite.test_cases[0], [])
    assert (status, passed, score) == ("passed", True, 1.0)


# --------------------------------------------------------------------------- the mapping


def test_vars_lists_of_strings_expand_as_a_matrix_first_var_slowest() -> None:
    suite = pf("""
        prompts: ['Say {{greeting}} in {{language}}']
        tests:
          - vars:
              language: [French, German]
              greeting: [hello, goodbye]
    """)
    assert [(c.name, c.input) for c in suite.test_cases] == [
        ("test 1 (language=French, greeting=hello)", "Say hello in French"),
        ("test 1 (language=French, greeting=goodbye)", "Say goodbye in French"),
        ("test 1 (language=German, greeting=hello)", "Say hello in German"),
        ("test 1 (language=German, greeting=goodbye)", "Say goodbye in German"),
    ]
    assert suite.test_cases[1].vars == {"language": "French", "greeting": "goodbye"}


def test_matrix_times_prompts_and_lists_that_are_not_strings_stay_whole() -> None:
    suite = pf("""
        prompts: ['A {{x}} {{n}}', 'B {{x}} {{n}}']
        tests:
          - description: grid
            vars: {x: [p, q], n: [1, 2]}
    """)
    assert [c.name for c in suite.test_cases] == [
        "grid (x=p) [prompt 1]",
        "grid (x=p) [prompt 2]",
        "grid (x=q) [prompt 1]",
        "grid (x=q) [prompt 2]",
    ]
    assert suite.test_cases[0].input == "A p [1,2]"


def test_options_prefix_and_suffix_wrap_the_prompt() -> None:
    suite = pf("""
        prompts: ['Q: {{q}}']
        defaultTest: {options: {prefix: 'Be brief. ', suffix: ' Answer:'}}
        tests: [{vars: {q: why}}]
    """)
    assert suite.test_cases[0].input == "Be brief. Q: why Answer:"


def test_disable_var_expansion_keeps_a_list_whole() -> None:
    suite = pf("""
        prompts: ['{{items}}']
        tests:
          - vars: {items: [a, b]}
            options: {disableVarExpansion: true}
    """)
    assert [c.input for c in suite.test_cases] == ['["a","b"]']


def test_default_test_vars_threshold_and_metadata_apply_under_the_tests_own() -> None:
    suite = pf("""
        prompts: ['{{greeting}}, {{name}}']
        defaultTest:
          vars: {greeting: Hello, name: World}
          assert: [{type: contains, value: Hello}]
          threshold: 0.5
          metadata: {team: a}
        tests:
          - vars: {name: Ada}
            assert: [{type: equals, value: 'Hello, Ada'}]
            metadata: {case: x}
          - vars: {greeting: Hi}
            threshold: 0.9
    """)
    first, second = suite.test_cases
    assert (first.input, second.input) == ("Hello, Ada", "Hi, World")
    assert checks_of(suite, 0) == [
        {"type": "contains", "value": "Hello"},
        {"type": "equals", "value": "Hello, Ada"},
    ]
    assert checks_of(suite, 1) == [{"type": "contains", "value": "Hello"}]
    assert (first.threshold, second.threshold) == (0.5, 0.9)
    assert first.metadata == {"team": "a", "case": "x"}


def test_assertion_values_are_filled_with_the_vars() -> None:
    suite = pf("""
        prompts: ['Capital of {{country}}?']
        tests:
          - vars: {country: France, answer: Paris}
            assert:
              - {type: contains, value: '{{ answer }}'}
              - {type: contains-all, value: ['{{answer}}', France]}
    """)
    assert checks_of(suite) == [
        {"type": "contains", "value": "Paris"},
        {"type": "contains_all", "values": ["Paris", "France"]},
    ]


@pytest.mark.parametrize(
    ("assertion", "check"),
    [
        ("{type: equals, value: Paris}", {"type": "equals", "value": "Paris"}),
        ("{type: contains, value: 9}", {"type": "contains", "value": "9"}),
        ("{type: icontains, value: paris}", {"type": "icontains", "value": "paris"}),
        ("{type: contains-any, value: [a, b]}", {"type": "contains_any", "values": ["a", "b"]}),
        ("{type: contains-any, value: 'a, b'}", {"type": "contains_any", "values": ["a", "b"]}),
        ("{type: contains-all, value: [a, b]}", {"type": "contains_all", "values": ["a", "b"]}),
        (
            "{type: icontains-any, value: [A]}",
            {"type": "contains_any", "values": ["A"], "ignore_case": True},
        ),
        (
            "{type: icontains-all, value: [A]}",
            {"type": "contains_all", "values": ["A"], "ignore_case": True},
        ),
        ("{type: starts-with, value: Yes}", {"type": "starts_with", "value": "Yes"}),
        ("{type: regex, value: '^\\d+$'}", {"type": "regex", "pattern": "^\\d+$"}),
        ("{type: is-json}", {"type": "json_valid"}),
        (
            "{type: is-json, value: {type: object, required: [a]}}",
            {"type": "json_schema", "schema": {"type": "object", "required": ["a"]}},
        ),
        ("{type: contains-json}", {"type": "json_valid", "contains": True}),
        (
            "{type: similar, value: hello}",
            {"type": "semantic_similarity", "value": "hello", "threshold": 0.75},
        ),
        (
            "{type: similar, value: hello, threshold: 0.9}",
            {"type": "semantic_similarity", "value": "hello", "threshold": 0.9},
        ),
        ("{type: llm-rubric, value: is polite}", {"type": "llm_rubric", "rubric": "is polite"}),
        (
            "{type: llm-rubric, value: is polite, threshold: 0.8}",
            {"type": "llm_rubric", "rubric": "is polite", "threshold": 0.8},
        ),
        (
            "{type: factuality, value: Paris is the capital}",
            {"type": "factuality", "value": "Paris is the capital"},
        ),
        ("{type: latency, threshold: 3000}", {"type": "latency", "max_ms": 3000}),
        ("{type: cost, threshold: 0.002}", {"type": "cost", "max_usd": 0.002}),
        (
            "{type: not-contains, value: sorry}",
            {"type": "contains", "value": "sorry", "negate": True},
        ),
        (
            "{type: not-icontains-any, value: [x]}",
            {"type": "contains_any", "values": ["x"], "ignore_case": True, "negate": True},
        ),
        ("{type: not-is-json}", {"type": "json_valid", "negate": True}),
        ("{type: contains, value: a, weight: 3}", {"type": "contains", "value": "a", "weight": 3}),
    ],
)
def test_assertion_types_map_onto_checks(assertion: str, check: dict[str, Any]) -> None:
    suite = pf(f"""
        prompts: ['{{{{q}}}}']
        tests:
          - vars: {{q: hi}}
            assert: [{assertion}]
    """)
    assert checks_of(suite) == [check]


@pytest.mark.parametrize(
    "kind",
    [
        "javascript",
        "python",
        "webhook",
        "model-graded-closedqa",
        "levenshtein",
        "not-javascript",
        "assert-set",
        "answer-relevance",
    ],
)
def test_an_assertion_without_counterpart_refuses_the_whole_file(kind: str) -> None:
    text = f"""
        prompts: ['{{{{q}}}}']
        tests:
          - vars: {{q: fine}}
            assert: [{{type: contains, value: a}}]
          - description: the odd one
            vars: {{q: hi}}
            assert: [{{type: equals, value: a}}, {{type: {kind}, value: 'output.length > 1'}}]
    """
    with pytest.raises(SuiteError) as caught:
        pf(text)
    err = caught.value
    assert (err.file, err.case, err.field) == (
        "promptfooconfig.yaml",
        "the odd one",
        "tests[1].assert[1].type",
    )
    assert f"'{kind}'" in str(err)
    assert "the odd one" in str(err)


def test_an_unmappable_default_assertion_names_default_test() -> None:
    with pytest.raises(SuiteError) as caught:
        pf("""
            prompts: ['{{q}}']
            defaultTest: {assert: [{type: python, value: file://check.py}]}
            tests: [{vars: {q: a}}]
        """)
    assert caught.value.field == "defaultTest.assert[0].type"
    assert "'python'" in str(caught.value)


def test_a_bad_assertion_value_names_the_promptfoo_field() -> None:
    with pytest.raises(SuiteError) as caught:
        pf("""
            prompts: ['{{q}}']
            tests:
              - vars: {q: a}
                assert: [{type: regex, value: '([unclosed'}]
        """)
    assert (caught.value.case, caught.value.field) == ("test 1", "tests[0].assert[0].value")


def test_latency_without_threshold_is_refused() -> None:
    with pytest.raises(SuiteError, match="needs a 'threshold'") as caught:
        pf("""
            prompts: ['{{q}}']
            tests: [{vars: {q: a}, assert: [{type: latency}]}]
        """)
    assert caught.value.field == "tests[0].assert[0].threshold"


def test_providers_and_transforms_are_ignored_with_warnings() -> None:
    suite = pf("""
        prompts: ['{{q}}']
        providers: [openai:gpt-4o]
        defaultTest:
          options: {transform: output.trim()}
        tests: [{vars: {q: a}, assert: [{type: contains, value: a}]}]
    """)
    assert len(suite.test_cases) == 1
    assert any("providers" in w for w in suite.warnings)
    assert any("options.transform" in w for w in suite.warnings)


def test_scenarios_are_refused() -> None:
    with pytest.raises(SuiteError, match="scenarios"):
        pf("""
            prompts: ['{{q}}']
            scenarios: [{config: [{vars: {q: a}}], tests: [{}]}]
            tests: [{vars: {q: a}}]
        """)


# --------------------------------------------------------------------------- inputs


def test_without_prompts_the_input_var_or_the_only_var_is_the_input() -> None:
    suite = pf("""
        tests:
          - vars: {input: What is 2+2?, other: x}
          - vars: {question: Only me}
    """)
    assert [c.input for c in suite.test_cases] == ["What is 2+2?", "Only me"]
    assert [c.name for c in suite.test_cases] == ["test 1", "test 2"]


def test_without_prompts_several_vars_and_no_input_is_refused() -> None:
    with pytest.raises(SuiteError, match="no 'input'") as caught:
        pf("tests:\n  - vars: {a: 1, b: 2}\n")
    assert (caught.value.case, caught.value.field) == ("test 1", "tests[0].vars")


def test_a_chat_prompt_becomes_a_conversation() -> None:
    suite = pf("""
        prompts:
          - '[{"role": "system", "content": "You are terse."},
             {"role": "user", "content": "{{q}}"}]'
        tests: [{vars: {q: 'Say "hi"'}}]
    """)
    assert suite.test_cases[0].input == [
        Message(role="system", content="You are terse."),
        Message(role="user", content='Say "hi"'),
    ]


def test_prompt_objects_labels_and_per_test_prompt_selection() -> None:
    suite = pf("""
        prompts:
          - {raw: 'Short: {{q}}', label: short}
          - {raw: 'Long: {{q}}', label: long}
        tests:
          - vars: {q: a}
            prompts: [long]
          - vars: {q: b}
    """)
    assert [(c.name, c.input) for c in suite.test_cases] == [
        ("test 1 [prompt 2]", "Long: a"),
        ("test 2 [prompt 1]", "Short: b"),
        ("test 2 [prompt 2]", "Long: b"),
    ]


def test_templates_support_spacing_dotted_names_and_simple_filters() -> None:
    suite = pf("""
        prompts:
          - '{{ user.name | upper }} / {{user.name}} / {{ data | dump }} / {{ n }} / {{missing}}.'
        tests: [{vars: {user: {name: ada}, data: {k: 1}, n: 2.0}}]
    """)
    assert suite.test_cases[0].input == 'ADA / ada / {"k":1} / 2 / .'
    assert any("missing" in w for w in suite.warnings)


@pytest.mark.parametrize(
    "prompt",
    ["'{% for x in xs %}{{x}}{% endfor %}'", "'{{ q | truncate(3) }}'", "'{{ a + b }}'"],
)
def test_templates_beyond_plain_substitution_are_refused(prompt: str) -> None:
    with pytest.raises(SuiteError, match="prompt cannot be filled") as caught:
        pf(f"prompts: [{prompt}]\ntests: [{{vars: {{q: a}}}}]\n")
    assert caught.value.field == "prompts[0]"


# --------------------------------------------------------------------------- file references


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ("prompts: ['file://prompt.txt']\ntests: [{vars: {q: a}}]\n", "prompts[0]"),
        ("prompts: ['{{q}}']\ntests: file://tests.yaml\n", "tests[0]"),
        ("prompts: ['{{q}}']\ntests: [{vars: file://vars.yaml}]\n", "tests[0].vars"),
        ("prompts: ['{{q}}']\ntests: [{vars: {q: file://q.txt}}]\n", "tests[0].vars.q"),
        (
            "prompts: ['{{q}}']\ntests: [{vars: {q: a}, assert: [{type: llm-rubric, "
            "value: file://rubric.txt}]}]\n",
            "tests[0].assert[0].value",
        ),
    ],
)
def test_over_the_api_every_file_reference_is_refused(
    tmp_path: Path, config: str, field: str
) -> None:
    for name in ("prompt.txt", "q.txt", "rubric.txt"):
        write(tmp_path / name, "text {{q}}")
    write(tmp_path / "tests.yaml", "- vars: {q: a}\n")
    write(tmp_path / "vars.yaml", "q: a\n")
    with pytest.raises(SuiteError, match="not allowed here") as caught:
        pf(config, allow_file_refs=False, base_dir=tmp_path)
    assert caught.value.field == field
    # the same file resolves from the command line
    assert len(pf(config, base_dir=tmp_path).test_cases) == 1


def test_file_references_resolve_relative_to_the_suite(tmp_path: Path) -> None:
    write(tmp_path / "prompts.txt", "First: {{q}}\n---\nSecond: {{q}}\n")
    write(
        tmp_path / "chat.json",
        '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{q}}"}]',
    )
    write(tmp_path / "question.md", "Why is the sky blue?")
    write(tmp_path / "rubric.txt", "Mentions Rayleigh scattering")
    write(
        tmp_path / "tests.yaml",
        """
        - vars: {q: file://question.md}
          assert: [{type: llm-rubric, value: file://rubric.txt}]
    """,
    )
    write(
        tmp_path / "promptfooconfig.yaml",
        """
        prompts: [file://prompts.txt, file://chat.json]
        tests: file://tests.yaml
    """,
    )
    suite = load_suite(tmp_path / "promptfooconfig.yaml")
    assert [(c.name, c.input) for c in suite.test_cases] == [
        ("test 1 [prompt 1]", "First: Why is the sky blue?"),
        ("test 1 [prompt 2]", "Second: Why is the sky blue?"),
        (
            "test 1 [prompt 3]",
            [
                Message(role="system", content="Be brief."),
                Message(role="user", content="Why is the sky blue?"),
            ],
        ),
    ]
    assert checks_of(suite) == [{"type": "llm_rubric", "rubric": "Mentions Rayleigh scattering"}]


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("file://prompt.py", "only text files"),
        ("file://prompts/*.txt", "only text files"),
        ("file://absent.txt", "does not exist"),
    ],
)
def test_file_references_that_cannot_be_resolved_refuse_the_file(
    tmp_path: Path, ref: str, reason: str
) -> None:
    write(tmp_path / "prompt.py", "def prompt(): return 'x'")
    with pytest.raises(SuiteError, match=reason) as caught:
        pf(f"prompts: ['{ref}']\ntests: [{{vars: {{q: a}}}}]\n", base_dir=tmp_path)
    assert caught.value.field == "prompts[0]"
