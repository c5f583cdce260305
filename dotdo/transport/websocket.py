"""The WebSocket client transport: one protocol message per text frame.

Built on `websockets` (asyncio), which measured here did about 7x the in-flight throughput of
httpx-ws. Frames are written straight to its sans-IO protocol and read from its event callback, so
a call costs no task switch beyond the one that awaits it. Its default 1 MiB frame cap is raised
to the session's message limit, compression is off (the reference does not negotiate it by
default, and it costs CPU on every frame), and proxies from the environment are not used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame, Opcode
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C extension is missing only on exotic platforms
    from websockets.utils import apply_mask

from dotdo.errors import DotDoConnectionError, ProtocolError
from dotdo.transport.channel import SessionDriver
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.session import Session

__all__ = ["open_websocket_session"]

# websockets logs every frame at DEBUG, and frames carry secret values. Its records go to this
# logger, held at WARNING, so turning the root (or "dotdo") logger to DEBUG never prints them.
_FRAMES_LOGGER = logging.getLogger("dotdo.transport.frames")
_FRAMES_LOGGER.setLevel(logging.WARNING)


_READ_SIZE = 65_536


class _RpcClientConnection(ClientConnection, asyncio.BufferedProtocol):
    """A websockets connection that hands complete messages to a driver as they arrive."""

    driver: SessionDriver | None = None
    _fragments: list[bytes] | None = None
    _pending: bytearray | None = None
    _passthrough = False
    _read_view: memoryview | None = None

    # Reads go into one reusable buffer (asyncio's BufferedProtocol). A plain Protocol gets a
    # fresh bytes object per read, and the stdlib loop allocates 256 KiB for each: measured on a
    # raw echo client, that cost 20-40 us per round trip.
    def get_buffer(self, sizehint: int) -> memoryview:
        if self._read_view is None:
            self._read_view = memoryview(bytearray(_READ_SIZE))
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        view = self._read_view
        assert view is not None
        if self._pending or self.driver is None or self._passthrough:
            self.data_received(view[:nbytes].tobytes())
            return
        # The usual read starts on a frame boundary: its frames are cut straight out of the read
        # buffer, and only an unfinished last frame is copied aside. Most often it is exactly one
        # short text frame (a sequential call's answer).
        if (
            nbytes >= 2
            and view[0] == 0x81
            and view[1] == nbytes - 2 < 126
            and self._fragments is None
        ):
            self.driver.deliver_all((bytes(view[2:nbytes]),))
            return
        offset = self._cut_frames(view, nbytes)
        if offset < nbytes:
            self._pending = bytearray(view[offset:nbytes])

    def data_received(self, data: bytes) -> None:
        # Complete, final, unmasked data frames are cut out here and handed to the session:
        # websockets' generator-based parser costs more per message than the RPC itself. Every
        # other frame (control, fragment, oversize, anything odd) goes to websockets whole, so
        # its parser never holds half a frame. During the handshake websockets gets exactly the
        # HTTP response; frames that follow it wait here until the driver is attached.
        if self._passthrough:
            super().data_received(data)
            return
        if self._pending is None:
            self._pending = bytearray()
        self._pending += data
        if self.protocol.state is State.CONNECTING:
            self._finish_handshake()
            return
        self.read_frames()

    def _finish_handshake(self) -> None:
        buffer = self._pending
        assert buffer is not None
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > 65_536:  # no end of headers in sight: let websockets refuse it
                self._hand_over(bytes(buffer))
            return
        head = bytes(buffer[: end + 4])
        del buffer[: end + 4]
        super().data_received(head)
        if self.protocol.state is not State.OPEN:
            self._hand_over(bytes(buffer))
        elif self.driver is not None:
            self.read_frames()

    def _hand_over(self, rest: bytes) -> None:
        """Give websockets ``rest`` and everything after it (it fails the connection as it
        should)."""
        self._passthrough = True
        self._pending = None
        if rest:
            super().data_received(rest)

    def read_frames(self) -> None:
        """Deliver every complete frame buffered so far (also called once a driver attaches)."""
        buffer = self._pending
        if not buffer or self.driver is None:
            return
        offset = self._cut_frames(buffer, len(buffer))
        if self._pending is buffer:
            del buffer[:offset]

    def _cut_frames(self, buffer: bytearray | memoryview, size: int) -> int:
        """Deliver the complete frames at the start of ``buffer[:size]``; return the bytes used.

        The messages of one read go to the driver together, so what they make the session send
        leaves in one write. Anything handed to websockets first gets the messages before it.
        """
        driver = self.driver
        assert driver is not None
        messages: list[bytes] = []
        offset = 0
        max_size = self.protocol.max_message_size
        try:
            while size - offset >= 2:
                first, second = buffer[offset], buffer[offset + 1]
                length, header = second & 0x7F, 2
                if length == 126:
                    if size - offset < 4:
                        break
                    length, header = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), 4
                elif length == 127:
                    if size - offset < 10:
                        break
                    length, header = int.from_bytes(buffer[offset + 2 : offset + 10], "big"), 10
                if second & 0x80 or (max_size is not None and length > max_size):
                    # Masked (a server must not mask) or over the limit: websockets fails the
                    # connection with the right close code.
                    self._hand_over(bytes(buffer[offset:size]))
                    return size
                end = offset + header + length
                if end > size:
                    break
                opcode = first & 0x0F
                if first & 0xF0 == 0x80 and opcode in (1, 2) and self._fragments is None:
                    messages.append(bytes(buffer[offset + header : end]))
                else:
                    if messages:
                        driver.deliver_all(messages)
                        messages = []
                    super().data_received(bytes(buffer[offset:end]))
                offset = end
                if self.driver is None:
                    break
        finally:
            if messages:
                driver.deliver_all(messages)
        return offset

    def process_event(self, event: Any) -> None:
        driver = self.driver
        if driver is None or not isinstance(event, Frame):
            super().process_event(event)
            return
        opcode = event.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if event.fin:
                driver.deliver(bytes(event.data))
            else:
                self._fragments = [bytes(event.data)]
        elif opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(bytes(event.data))
            if event.fin:
                message, self._fragments = b"".join(self._fragments), None
                driver.deliver(message)
        else:
            super().process_event(event)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        driver = self.driver
        if driver is None:
            return
        self.driver = None
        sent = self.protocol.close_sent
        if sent is not None and sent.code == 1009:  # we refused a frame over the message limit
            limit = driver.session.limits.max_message_size
            error: Exception = ProtocolError(
                f"the peer sent a message over the limit of {limit} bytes"
            )
        else:
            reason = f": {exc}" if exc else ""
            error = DotDoConnectionError(f"the WebSocket connection closed{reason}")
        driver.channel_closed(error)

    def write_messages(self, messages: list[str]) -> None:
        # Frames are encoded here rather than by protocol.send_text(): that path costs a urandom
        # syscall per mask and a socket write per frame. Whole frames are written, so the
        # protocol's own control frames (pings, close) still interleave safely between them.
        if self.protocol.state is not State.OPEN:
            raise ConnectionError("the WebSocket is not open")
        if len(messages) == 1:
            self.transport.write(_text_frame(messages[0].encode()))
        else:
            self.transport.write(b"".join([_text_frame(message.encode()) for message in messages]))


class _MaskPool:
    """Client masking keys (RFC 6455 §5.3), drawn from os.urandom 1,024 keys at a time."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: list[bytes] = []

    def next(self) -> bytes:
        keys = self._keys
        if not keys:
            block = os.urandom(4096)
            keys[:] = [block[offset : offset + 4] for offset in range(0, 4096, 4)]
        return keys.pop()


_masks = _MaskPool()
_SHORT_HEADERS = [bytes((0x81, 0x80 | size)) for size in range(126)]


def _text_frame(payload: bytes) -> bytes:
    """One final, masked text frame."""
    size = len(payload)
    if size < 126:
        header = _SHORT_HEADERS[size]
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 0xFE, size)
    else:
        header = struct.pack("!BBQ", 0x81, 0xFF, size)
    mask = _masks.next()
    return header + mask + apply_mask(payload, mask)


async def open_websocket_session(
    url: str,
    *,
    local_main: Any = None,
    limits: Limits = DEFAULT_LIMITS,
    headers: Mapping[str, str] | None = None,
    open_timeout: float | None = 10.0,
) -> SessionDriver:
    """Connect to ``url`` and start a session over it.

    Raises:
        DotDoConnectionError: the connection could not be opened.
    """
    try:
        socket = await connect(
            url,
            create_connection=_RpcClientConnection,
            max_size=limits.max_message_size,
            compression=None,
            open_timeout=open_timeout,
            additional_headers=dict(headers or {}),
            proxy=None,
            logger=_FRAMES_LOGGER,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
        )
    except Exception as error:  # OSError, TimeoutError, InvalidURI, InvalidHandshake, ...
        raise DotDoConnectionError(f"could not connect to {url}: {error}") from error
    assert isinstance(socket, _RpcClientConnection)

    async def close() -> None:
        socket.driver = None
        await socket.close()

    driver = SessionDriver(
        Session(local_main, limits=limits), write_now=socket.write_messages, close_channel=close
    )
    socket.driver = driver
    socket.read_frames()  # frames that arrived right after the handshake
    return driver
