"""A kombu transport for the ingest consumer: py-amqp's, reading the socket ahead instead of frame part by part.

py-amqp asks the socket for exactly the bytes it needs next: a frame's 7-byte header, its payload, its end
octet. A delivered message is three frames, so nine `recv` calls, each behind a `poll` while a timeout is set.
Measured on the ingest consumer, the kernel's share of that was close to half of its CPU. This transport reads
whatever the socket holds (up to READ_AHEAD bytes) in one call and cuts frames from that buffer.

Only for connections read through `drain_events`, like ingest's. An event loop that waits for the socket to
become readable (Celery's worker) would not see frames already buffered here, so Celery keeps py-amqp's own.
"""

from __future__ import annotations

import errno
import struct

from amqp.exceptions import UnexpectedFrame
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

READ_AHEAD = 128 * 1024
FRAME_END = 0xCE
_HEADER = struct.Struct(">BHI")  # frame type, channel, payload size
_RETRY = {errno.EAGAIN, errno.EINTR}
_STILL_CONNECTED = {errno.EAGAIN, errno.EINTR, errno.ENOENT, errno.EWOULDBLOCK}  # py-amqp's _UNAVAIL


class ReadAheadTCPTransport(TCPTransport):
    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._ahead = bytearray()
        self._at = 0  # where the unread bytes start in _ahead

    def _fill(self, needed: int, initial: bool = False) -> None:
        """Make `needed` unread bytes available. A timeout loses nothing: partial data stays buffered."""
        if len(self._ahead) - self._at >= needed:
            return
        del self._ahead[: self._at]  # once per socket read, and what is left is less than one frame
        self._at = 0
        while len(self._ahead) < needed:
            try:
                chunk = self._quick_recv(max(READ_AHEAD, needed - len(self._ahead)))
            except OSError as exc:
                if exc.errno in _RETRY:
                    if initial and self.raise_on_initial_eintr:
                        raise TimeoutError() from exc
                    continue
                raise
            if not chunk:
                raise OSError("Server unexpectedly closed connection")
            self._ahead += chunk

    def _read(self, n: int, initial: bool = False, _errnos: object = None) -> bytes:
        self._fill(n, initial)
        data = bytes(self._ahead[self._at : self._at + n])
        self._at += n
        return data

    def read_frame(self, unpack: object = None) -> tuple[int, int, bytes]:
        try:
            self._fill(7, initial=True)
            frame_type, channel, size = _HEADER.unpack_from(self._ahead, self._at)
            self._fill(7 + size + 1)
        except TimeoutError:
            raise
        except OSError as exc:
            if exc.errno not in _STILL_CONNECTED:
                self.connected = False
            raise
        start = self._at + 7
        payload = bytes(self._ahead[start : start + size])
        frame_end = self._ahead[start + size]
        self._at = start + size + 1
        if frame_end != FRAME_END:
            raise UnexpectedFrame(f"Received frame_end {frame_end:#04x} while expecting 0xce")
        return frame_type, channel, payload


class ReadAheadConnection(pyamqp.Connection):
    def Transport(  # noqa: N802 (py-amqp's name and signature)
        self, host, connect_timeout, ssl=False, read_timeout=None, write_timeout=None, socket_settings=None, **kwargs
    ):
        if ssl:  # TLS reads go through the SSL object's own buffer: py-amqp's transport as it is
            return super().Transport(
                host, connect_timeout, ssl, read_timeout, write_timeout, socket_settings=socket_settings, **kwargs
            )
        return ReadAheadTCPTransport(
            host, connect_timeout=connect_timeout, read_timeout=read_timeout, write_timeout=write_timeout,
            socket_settings=socket_settings, **kwargs,
        )  # fmt: skip


class ReadAheadTransport(pyamqp.Transport):
    """kombu's `pyamqp` transport with read-ahead: pass as `Connection(url, transport=ReadAheadTransport)`."""

    Connection = ReadAheadConnection
