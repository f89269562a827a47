"""Tests that need PostgreSQL or RabbitMQ skip with the reason where those are absent, and fail under CI=true."""

from __future__ import annotations

import pytest

from tests.fixtures.services import unavailable


def test_absent_service_skips_with_its_reason(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL is not reachable .*refused"):
        unavailable("PostgreSQL", ConnectionRefusedError("connection refused"))


def test_absent_service_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"RabbitMQ is not reachable.*CI=true"):
        unavailable("RabbitMQ", ConnectionRefusedError("connection refused"))
