"""Shared pytest fixtures. The emulators live in tests/fakes; their fixtures in tests/fakes/fixtures.py."""

pytest_plugins = ["tests.fakes.fixtures"]
