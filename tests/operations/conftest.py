"""Fixtures of the operations tests: the admin API served over HTTP (shared with tests/api)."""

from tests.api.conftest import api, api_settings, serve  # noqa: F401 - fixtures used by these tests
