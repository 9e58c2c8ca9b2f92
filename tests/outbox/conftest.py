"""The API fixture of tests/api, shared with the outbox tests."""

from tests.api.conftest import api  # noqa: F401 - a fixture, used by name
