"""Fixtures shared by the integration tests."""

import pytest


@pytest.fixture
def env(tmp_path):
    """The REST API in-process on a fresh database (tests/integration/api_seed.py)."""
    from tests.integration.api_seed import ApiEnv

    api = ApiEnv(tmp_path)
    yield api
    api.close()
