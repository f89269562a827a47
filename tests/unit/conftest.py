"""The unit layer: plain function calls on the pure parts of workers/, no database, broker or HTTP server.

Nothing here may open a network connection: a test that tries fails at once instead of waiting for a
timeout (libpq connects in C and is not caught, so no fixture of tests/fixtures/services.py may be used).
"""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"a unit test opened a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
