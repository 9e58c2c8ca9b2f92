"""Fixtures for the inbox tests."""

from __future__ import annotations

import pytest

from tests.inbox.helpers import NIGHT, build_service_desk


@pytest.fixture
def desk(runtime, clock):
    """A service-desk workspace at night in Seoul."""
    clock.set(NIGHT)
    return build_service_desk(runtime)
