"""Fakes shared by the test suites: servers that speak real wire protocols, and fixtures."""
