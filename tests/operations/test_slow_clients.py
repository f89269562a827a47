"""Slow clients against the real `signal-sendgrid api` (waitress with workers/web_server.py's limits): 1,100
sockets from 11 addresses trickling a header line every few seconds never keep a normal request from answering
within 2 s; each trickling connection is closed at the read deadline, and one address's connections beyond the
per-client cap are refused at once. Behind SIGNAL_TRUSTED_PROXIES the cap keys on X-Forwarded-For."""

from __future__ import annotations

import resource
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

from tests.fixtures.processes import BIN, answers, free_port, wait_for
from tests.helpers.api import TOKEN

pytestmark = pytest.mark.integration

ADDRESSES = [f"127.0.0.{n}" for n in range(2, 13)]  # 11 attacking addresses
PER_ADDRESS = 100  # 1,100 sockets: more than the 1,000 connections the server keeps open
LINE_EVERY = 3.0  # seconds between two header lines of one socket: never idle for waitress's channel_timeout
ATTACK_SECONDS = 26.0  # two read deadlines and a half (10 s by default)
DEADLINE = 10.0  # SIGNAL_API_READ_DEADLINE_SECONDS' default, which the server runs with here
CAP = 50  # SIGNAL_API_CONNECTIONS_PER_CLIENT's default
ANSWER_WITHIN = 2.0


def descriptors_for(needed: int) -> None:
    """Raise this process's soft descriptor limit (inherited by the server it starts) when it is below `needed`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"ulimit -n: {needed} descriptors needed, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def start_api(processes, service_env, **env: str) -> str:
    port = free_port()
    processes.env = {**service_env, "SIGNAL_ADMIN_TOKEN": TOKEN, **env}
    processes.start("api", str(BIN / "signal-sendgrid"), "api", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(base + "/openapi.json"), timeout=30, what="the API to answer")
    return base


@dataclass
class Trickler:
    """Sockets that each send a request line, then one header line every LINE_EVERY seconds, and reconnect a
    second after the server closes them (what a slowloris does). Records how long each closed one lived."""

    port: int
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    opened: dict[socket.socket, tuple[str, float]] = field(default_factory=dict)
    next_line: dict[socket.socket, float] = field(default_factory=dict)
    reconnect: list[tuple[float, str]] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)  # address -> connections answered 429
    lived: list[float] = field(default_factory=list)  # seconds each connection closed by the server was open
    failed_connects: int = 0

    def open(self, address: str, now: float) -> None:
        sock = socket.socket()
        try:
            sock.bind((address, 0))
            sock.settimeout(1)
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: slow\r\n")
        except OSError:
            sock.close()
            self.failed_connects += 1
            self.reconnect.append((now + 1, address))
            return
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ)
        self.opened[sock] = (address, now)
        self.next_line[sock] = now + LINE_EVERY * (0.2 + 0.8 * (len(self.opened) % 97) / 97)

    def closed_by_server(self, sock: socket.socket, now: float) -> None:
        address, opened_at = self.opened.pop(sock)
        self.next_line.pop(sock)
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if data.startswith(b"HTTP/1.1 429"):
            self.refused[address] += 1
        else:
            self.lived.append(now - opened_at)
        self.selector.unregister(sock)
        sock.close()
        self.reconnect.append((now + 1, address))

    def step(self, now: float) -> None:
        for key, _ in self.selector.select(timeout=0.1):
            self.closed_by_server(key.fileobj, now)  # readable: an answer (429) or the end of the connection
        for sock, due in list(self.next_line.items()):
            if due <= now:
                try:
                    sock.send(b"X-Trickle: %d\r\n" % int(now))
                    self.next_line[sock] = now + LINE_EVERY
                except OSError:
                    self.closed_by_server(sock, now)
        waiting, self.reconnect = self.reconnect, []
        for due, address in waiting:
            if due <= now:
                self.open(address, now)
            else:
                self.reconnect.append((due, address))

    def oldest(self, now: float) -> float:
        return max((now - opened_at for _, opened_at in self.opened.values()), default=0.0)

    def close(self) -> None:
        for sock in self.opened:
            sock.close()
        self.selector.close()


def timed_gets(base: str, stop: threading.Event, seconds: list[float]) -> None:
    while not stop.wait(1.0):
        started = time.monotonic()
        try:
            requests.get(base + "/openapi.json", timeout=10).raise_for_status()
            seconds.append(time.monotonic() - started)
        except requests.RequestException:
            seconds.append(float("inf"))


@pytest.mark.timeout(120)
def test_1100_trickling_sockets_never_keep_a_normal_request_waiting(processes, service_env):
    descriptors_for(len(ADDRESSES) * PER_ADDRESS + 1000)
    base = start_api(processes, service_env)
    trickler = Trickler(int(base.rsplit(":", 1)[1]))
    seconds: list[float] = []
    stop = threading.Event()
    measuring = threading.Thread(target=timed_gets, args=(base, stop, seconds))
    oldest = 0.0
    try:
        started = time.monotonic()
        for address in ADDRESSES:
            for _ in range(PER_ADDRESS):
                trickler.open(address, started)
        measuring.start()
        while (now := time.monotonic()) - started < ATTACK_SECONDS:
            trickler.step(now)
            oldest = max(oldest, trickler.oldest(now))
    finally:
        stop.set()
        if measuring.is_alive():
            measuring.join(timeout=15)
        trickler.close()
    print(
        f"\n1,100 trickling sockets ({len(ADDRESSES)} addresses x {PER_ADDRESS}, a header line every {LINE_EVERY:g} s)"
        f" for {ATTACK_SECONDS:g} s: {len(seconds)} normal GETs, slowest {max(seconds):.3f} s, median "
        f"{sorted(seconds)[len(seconds) // 2]:.3f} s; {len(trickler.lived)} closed at the read deadline (longest "
        f"{max(trickler.lived, default=0):.1f} s), {sum(trickler.refused.values())} refused beyond {CAP} per "
        f"address, oldest open {oldest:.1f} s, {trickler.failed_connects} connects failed"
    )
    assert len(seconds) >= 20 and max(seconds) < ANSWER_WITHIN, seconds
    assert trickler.lived and max(trickler.lived) < DEADLINE + 2.5  # the deadline held every trickling connection
    assert oldest < DEADLINE + 2.5
    assert set(trickler.refused) == set(ADDRESSES)  # each address beyond its cap was refused


@pytest.mark.timeout(60)
def test_behind_a_trusted_proxy_the_cap_keys_on_the_forwarded_client(processes, service_env):
    env = {"SIGNAL_TRUSTED_PROXIES": "1", "SIGNAL_API_CONNECTIONS_PER_CLIENT": "3"}
    base = start_api(processes, service_env, SIGNAL_API_READ_DEADLINE_SECONDS="3", **env)
    port = int(base.rsplit(":", 1)[1])

    def half_sent(client: str) -> socket.socket:
        """Headers in, body missing: the request is being read, its connection counts for `client`."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        head = f"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {client}\r\nContent-Length: 10\r\n\r\n"
        sock.sendall(head.encode())
        return sock

    held = [half_sent("198.51.100.7, 203.0.113.7") for _ in range(3)]
    try:
        time.sleep(0.3)
        fourth = half_sent("203.0.113.7")
        assert fourth.recv(4096).startswith(b"HTTP/1.1 429 Too Many Requests")
        fourth.close()
        other = requests.get(base + "/openapi.json", headers={"X-Forwarded-For": "203.0.113.8"}, timeout=5)
        assert other.status_code == 200  # another client behind the same proxy (the same peer) is served
        started = time.monotonic()
        for sock in held:  # the deadline (3 s here) closes the half-sent ones, and the client is served again
            assert sock.recv(4096) == b""
        assert time.monotonic() - started < 3 + 2
        again = requests.get(base + "/openapi.json", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=5)
        assert again.status_code == 200
    finally:
        for sock in held:
            sock.close()
