"""The server side: an ASGI app serving Cap'n Web over WebSocket and HTTP batch on one path.

Mount it in Starlette or FastAPI (``Mount("/rpc", app=RpcAsgiApp(make_main))``) or run it alone.
Every connection (or batch) gets a fresh main object from ``make_main``. HTTP batch bodies are read
with a byte cap (413 beyond it) and a cap on lines, which the reference leaves unbounded. Run
WebSocket servers with a frame cap at least the message limit (uvicorn: ``ws_max_size``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from dotdo.errors import DotDoConnectionError, ProtocolError, ServiceError
from dotdo.transport.channel import SessionDriver
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.scheduler import AsyncioScheduler
from dotdo.transport.session import Session

__all__ = ["RpcAsgiApp"]

logger = logging.getLogger("dotdo.transport")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RpcAsgiApp:
    """ASGI app exposing ``make_main()`` to each Cap'n Web peer.

    Args:
        make_main: builds the main object (an `RpcTarget`) for one session.
        limits: receive-side limits for every session.
        redact_error: applied to every error before it is sent (hide internals here).
        batch_timeout: most seconds an HTTP batch may take before it is answered with what is done.
    """

    def __init__(
        self,
        make_main: Callable[[], Any],
        *,
        limits: Limits = DEFAULT_LIMITS,
        redact_error: Callable[[BaseException], BaseException] | None = None,
        batch_timeout: float = 30.0,
    ) -> None:
        self.make_main = make_main
        self.limits = limits
        self.redact_error = redact_error
        self.batch_timeout = batch_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    # -- WebSocket ------------------------------------------------------------------------

    async def _websocket(self, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        closed = False

        async def send_many(messages: list[str]) -> None:
            for message in messages:
                await send({"type": "websocket.send", "text": message})

        async def next_message() -> str | bytes | None:
            nonlocal closed
            event = await receive()
            if event["type"] == "websocket.disconnect":
                closed = True
                return None
            text = event.get("text")
            return text if text is not None else event.get("bytes") or b""

        async def close() -> None:
            if not closed:
                try:
                    await send({"type": "websocket.close", "code": 1000})
                except Exception:
                    logger.debug("websocket close failed", exc_info=True)

        session = Session(self.make_main(), limits=self.limits, redact_error=self.redact_error)
        driver = SessionDriver(
            session, send_many=send_many, receive=next_message, close_channel=close
        )
        driver.start()
        try:
            await driver.finished.wait()
        finally:
            await driver.close()

    # -- HTTP batch -----------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":
            await _respond(send, 405, b"Cap'n Web: POST a batch, or open a WebSocket.\n")
            return
        body = await _read_capped(receive, self.limits.max_batch_bytes)
        if body is None:
            await _respond(send, 413, b"batch body is too large\n")
            return
        lines = body.split(b"\n") if body else []
        if len(lines) > self.limits.max_batch_messages:
            await _respond(send, 413, b"batch has too many messages\n")
            return
        answer = await self._run_batch(lines)
        await _respond(send, 200, answer, content_type=b"text/plain; charset=utf-8")

    async def _run_batch(self, lines: list[bytes]) -> bytes:
        session = Session(self.make_main(), limits=self.limits, redact_error=self.redact_error)
        scheduler = AsyncioScheduler()
        session.attach(scheduler)
        idle = asyncio.Event()
        session.on_idle = idle.set
        try:
            for line in lines:
                session.receive(line)
        except ProtocolError:
            logger.info("HTTP batch aborted: the peer broke the protocol", exc_info=True)
        if session.pending_pulls and session.is_open:
            try:
                async with asyncio.timeout(self.batch_timeout):
                    while session.pending_pulls and session.is_open:
                        idle.clear()
                        await idle.wait()
            except TimeoutError:
                session.abort(ServiceError("the batch took too long and was cut short"))
        answer = "\n".join(session.take_outgoing()).encode()
        session.abort(DotDoConnectionError("the batch is over"), notify_peer=False)
        await scheduler.close()
        return answer


async def _read_capped(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return b""
        chunk = event.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not event.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, *, content_type: bytes = b"text/plain; charset=utf-8"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
