"""Fixtures for automation tests: the shop on a fresh database."""

from __future__ import annotations

import pytest

from tests.automations.helpers import Shop, make_shop


@pytest.fixture
def shop(runtime) -> Shop:
    """Workspace 'Acme' with topics, templates and quick-reply options (see helpers.make_shop)."""
    return make_shop(runtime)
