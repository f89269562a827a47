"""The per-client bookkeeping of workers/web_server.py: which client a request counts for, and the cap."""

from __future__ import annotations

import pytest

from workers.web_server import ClientConnections, forwarded_client


@pytest.mark.parametrize(
    ("forwarded_for", "proxies", "expected"),
    [
        ("203.0.113.7", 1, "203.0.113.7"),
        ("198.51.100.1, 203.0.113.7", 1, "203.0.113.7"),  # the client's own claim (left) is not believed
        ("198.51.100.1, 203.0.113.7", 2, "198.51.100.1"),
        ("203.0.113.7", 2, "10.0.0.1"),  # fewer addresses than proxies: the peer, as ProxyFix does
        (None, 1, "10.0.0.1"),
        ("", 1, "10.0.0.1"),
        ("203.0.113.7, ", 1, "10.0.0.1"),  # an empty last entry names nobody
    ],
)
def test_the_client_is_the_one_proxyfix_gives_the_app(forwarded_for, proxies, expected):
    assert forwarded_client(forwarded_for, proxies, "10.0.0.1") == expected


class Channel:
    client = None


def test_a_client_holds_at_most_the_cap_and_a_released_connection_makes_room():
    clients = ClientConnections(cap=2)
    a, b, c, other = Channel(), Channel(), Channel(), Channel()
    assert clients.admit(a, "x") and clients.admit(b, "x")
    assert not clients.admit(c, "x") and c.client is None and clients.refused == 1
    assert clients.admit(other, "y")  # another client is not affected
    clients.release(a)
    assert clients.admit(c, "x")
    assert clients.admit(b, "z") and len(clients.open["x"]) == 1  # re-keyed: counted for its latest client only
    clients.release(b)
    clients.release(c)
    assert set(clients.open) == {"y"}
