"""Runs cases against agents with limits, timeouts, retries and budgets."""
