"""Shared fixtures: real databases, fake LLM providers, mock agents."""

pytest_plugins = [
    "tests.fakes.databases",
    "tests.fakes.fixtures",
    "tests.fakes.service",
    "tests.fakes.dashboard",
]
