"""Run the sandbox on 127.0.0.1 with werkzeug's threaded server, in a daemon thread.

with SandboxServer(port=0) as server:
    requests.get(server.url + "/v3/scopes", headers={"Authorization": f"Bearer {DEFAULT_KEY}"})
"""

from __future__ import annotations

import socket
import struct
import threading
from contextlib import suppress
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.app import SandboxReset, create_app
from sandbox.state import SandboxState

HOST = "127.0.0.1"


class _RequestHandler(WSGIRequestHandler):
    quiet = True

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        if isinstance(error, SandboxReset):
            # Close with SO_LINGER 0, so the client gets a reset instead of an answer.
            self.close_connection = True
            with suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self.quiet:
            super().log_request(code, size)


class SandboxServer:
    def __init__(
        self,
        port: int = 0,
        keys: dict[str, list[str]] | None = None,
        lists: list[str] | None = None,
        apply_delay: float = 0.0,
        rate_limit: int = 600,
        rate_window: float = 1.0,
        relative_reset: bool = False,
        *,
        groups: dict[int, str] | None = None,
        seed: int | None = None,
        faults: dict | None = None,
        quiet: bool = True,
        host: str = HOST,
    ) -> None:
        self.port = port
        self.host = host
        self.quiet = quiet
        self.state = SandboxState(
            keys=keys,
            lists=lists,
            groups=groups,
            apply_delay=apply_delay,
            rate_limit=rate_limit,
            rate_window=rate_window,
            relative_reset=relative_reset,
            seed=seed,
        )
        if faults:
            self.state.set_faults(faults)
        self.app = create_app(self.state)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        wildcard = self.host in ("0.0.0.0", "::")  # noqa: S104 - compared, not bound: a container binds all
        return f"http://{HOST if wildcard else self.host}:{self.port}"

    def start(self) -> SandboxServer:
        handler = type("SandboxRequestHandler", (_RequestHandler,), {"quiet": self.quiet})
        self._server = make_server(self.host, self.port, self.app, threaded=True, request_handler=handler)
        self.port = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits at most
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
