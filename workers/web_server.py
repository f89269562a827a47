"""The waitress server `signal-sendgrid api` runs, with the two limits against slow clients waitress lacks.

- **A read deadline.** A request whose headers and body are not all in within `read_deadline` seconds of its
  first byte is closed (a connection's first request counts from the connection's opening, so a socket that
  sends nothing is closed as soon). waitress's own `channel_timeout` counts idle time only: a client sending a
  header line every 10 s was never idle, and 1,100 such sockets held all 1,000 connection slots for as long as
  they liked. Time spent serving a request is not counted; a keep-alive connection between requests is idle and
  left to `channel_timeout`.
- **A per-client connection cap.** At most `per_client` open connections from one client; beyond it the new
  connection is answered 429 and closed. Without trusted proxies the client is the peer address, counted when
  the connection is accepted. With SIGNAL_TRUSTED_PROXIES=N every peer is taken for the proxy (as ProxyFix does
  for the app) and the client is the N-th address from the right of X-Forwarded-For, the one the app sees as
  remote_addr; it is known once a request's headers are in, so the cap is applied there, per request, and a
  connection counts for the client of its latest request.

Both are enforced on waitress's event loop: the channel records when its current request started, the server's
`maintenance()` (every second) closes the channels past the deadline, `handle_accept` refuses beyond the cap.
What they cost an attacker and what a client sees is in docs/operations.md ("Slow clients").
"""

from __future__ import annotations

import logging
import threading
import time

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

log = logging.getLogger(__name__)

REPORT_EVERY = 30.0  # seconds: the closed and refused connections are logged as one line at most this often
REFUSAL = b"too many connections from this client: try again\n"
TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(REFUSAL), REFUSAL)
)


def forwarded_client(forwarded_for: str | None, proxies: int, peer: str) -> str:
    """The client as werkzeug's ProxyFix(x_for=proxies) finds it: the `proxies`-th X-Forwarded-For address from
    the right, or the peer when the header has fewer."""
    values = [value.strip() for value in (forwarded_for or "").split(",")]
    if forwarded_for and len(values) >= proxies and values[-proxies]:
        return values[-proxies]
    return peer


class ClientConnections:
    """Open connections per client, at most `cap` each; touched from the event loop and, on close, from
    waitress's threads, hence the lock."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: dict[str, set[GuardedChannel]] = {}
        self.refused = 0
        self.lock = threading.Lock()

    def admit(self, channel: GuardedChannel, client: str) -> bool:
        with self.lock:
            self._release(channel)
            held = self.open.setdefault(client, set())
            if len(held) >= self.cap:
                if not held:
                    del self.open[client]
                self.refused += 1
                return False
            held.add(channel)
            channel.client = client
            return True

    def release(self, channel: GuardedChannel) -> None:
        with self.lock:
            self._release(channel)

    def _release(self, channel: GuardedChannel) -> None:
        if channel.client is None:
            return
        held = self.open.get(channel.client)
        if held is not None:
            held.discard(channel)
            if not held:
                del self.open[channel.client]
        channel.client = None


class GuardedChannel(HTTPChannel):
    """waitress's channel, recording when its current request started (`request_started`, None when no request
    is being read) and, behind proxies, admitting each request's client once its headers are in."""

    client: str | None = None
    request_started: float | None = None
    keyed = None  # the request whose client was last admitted

    def __init__(self, server: GuardedServer, sock, addr, adj, map=None) -> None:  # noqa: A002 - waitress's name
        super().__init__(server, sock, addr, adj, map=map)
        self.request_started = self.creation_time

    def received(self, data: bytes) -> bool:
        """waitress 3's HTTPChannel.received with the two hooks marked (kept line for line otherwise)."""
        if not data:
            return False
        with self.requests_lock:
            if self.will_close or self.close_when_flushed:
                return False
            while data:
                if self.request is None:
                    self.request = self.parser_class(self.adj)
                    if self.request_started is None:  # hook: the first byte of a request
                        self.request_started = time.time()
                n = self.request.received(data)
                if self.server.proxies and self.request.headers_finished and self.keyed is not self.request:
                    self.keyed = self.request  # hook: the client behind the proxies, known from the headers
                    peer = self.addr[0] if isinstance(self.addr, tuple) else str(self.addr)
                    client = forwarded_client(self.request.headers.get("X_FORWARDED_FOR"), self.server.proxies, peer)
                    if not self.server.clients.admit(self, client):
                        self.refuse()
                        return False
                if (
                    self.request.expect_continue
                    and self.request.headers_finished
                    and not self.requests
                    and not self.sent_continue
                ):
                    self.send_continue()
                if self.request.completed:
                    self.sent_continue = False
                    self.request_started = None  # hook: read in full, in time
                    if not self.request.empty:
                        self.requests.append(self.request)
                        if len(self.requests) == 1:
                            self.server.add_task(self)
                    self.request = None
                if n >= len(data):
                    break
                data = data[n:]
        return True

    def refuse(self) -> None:
        """Answer 429 and close once it is sent (on the event loop, with nothing being served)."""
        self.request = None
        self.request_started = None
        with self.outbuf_lock:
            self.outbufs[-1].append(TOO_MANY)
            self.current_outbuf_count += len(TOO_MANY)
            self.total_outbufs_len += len(TOO_MANY)
        self.close_when_flushed = True

    def del_channel(self, map=None) -> None:  # noqa: A002 - waitress's name
        self.server.clients.release(self)
        super().del_channel(map)


class GuardedServer(TcpWSGIServer):
    channel_class = GuardedChannel

    def __init__(self, app, *, read_deadline: float, clients: ClientConnections, proxies: int, **kwargs) -> None:
        self.read_deadline = read_deadline
        self.clients = clients
        self.proxies = proxies
        self.late_closed = 0
        self.reported_at = time.time()
        super().__init__(app, **kwargs)

    def handle_accept(self) -> None:
        """waitress's accept, then the cap on the peer (when no proxy is trusted)."""
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            return  # the client left before the accept (waitress logs nothing either unless asked)
        channel = self.channel_class(self, conn, addr, self.adj, map=self._map)
        if not self.proxies and not self.clients.admit(channel, addr[0]):
            channel.refuse()

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections: channel_timeout
        cutoff = now - self.read_deadline
        for channel in list(self.active_channels.values()):
            started = channel.request_started
            if started is not None and channel.requests:  # a pipelined request waits for the one being served
                channel.request_started = now
            elif started is not None and started < cutoff and not channel.will_close:
                channel.will_close = True  # closed by the event loop's next handle_write
                self.late_closed += 1
        if now - self.reported_at >= REPORT_EVERY and (self.late_closed or self.clients.refused):
            log.warning(
                "slow clients: closed %d connections whose request was not in within %g s, refused %d beyond %d "
                "per client (last %d s)",
                self.late_closed,
                self.read_deadline,
                self.clients.refused,
                self.clients.cap,
                round(now - self.reported_at),
            )
            self.late_closed = self.clients.refused = 0
            self.reported_at = now


def serve(app, *, read_deadline: float, per_client: int, proxies: int, **adjustments) -> None:
    """Serve `app` like `waitress.serve(app, **adjustments)`, with the read deadline and the per-client cap.
    `maintenance()` runs every second (cleanup_interval) so the deadline holds to about a second."""
    adj = Adjustments(**{**adjustments, "cleanup_interval": 1})
    shared: dict = {}
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    clients = ClientConnections(per_client)
    servers = [
        GuardedServer(
            app,
            read_deadline=read_deadline,
            clients=clients,
            proxies=proxies,
            map=shared,
            dispatcher=dispatcher,
            adj=adj,
            sockinfo=sockinfo,
        )
        for sockinfo in adj.listen  # one per address the host name resolves to, on one event loop
    ]
    servers[0].run()
