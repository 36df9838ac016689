"""pytest fixtures that start each loopback emulator on a free port and stop it afterwards.

Imports are inside the fixtures so that a test which needs only one fake does not import the others.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def slack_fake():
    from tests.fakes.slack import FakeSlack

    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def google_fake():
    from tests.fakes.google import FakeGoogle

    with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def microsoft_fake():
    from tests.fakes.microsoft import FakeMicrosoft

    with FakeMicrosoft() as fake:
        yield fake


@pytest.fixture
def meetingbaas_fake():
    from tests.fakes.meetingbaas import FakeMeetingBaas

    with FakeMeetingBaas() as fake:
        yield fake
