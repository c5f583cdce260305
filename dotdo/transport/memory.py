"""Two sessions linked in one process: no sockets, same protocol (messages still go as JSON text).

Used for the in-process platform (``memory://``) and for tests of the core.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dotdo.transport.channel import SessionDriver
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.session import Session

__all__ = ["memory_pair"]

_CLOSED = object()


def memory_pair(
    client_main: Any = None,
    server_main: Any = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    redact_error: Any = None,
) -> tuple[SessionDriver, SessionDriver]:
    """A client and a server driver joined by in-memory queues, both started."""
    to_server: asyncio.Queue[Any] = asyncio.Queue()
    to_client: asyncio.Queue[Any] = asyncio.Queue()

    def channel(inbox: asyncio.Queue[Any], outbox: asyncio.Queue[Any]) -> tuple[Any, Any, Any]:
        async def send_many(messages: list[str]) -> None:
            for message in messages:
                outbox.put_nowait(message)

        async def receive() -> str | None:
            message = await inbox.get()
            return None if message is _CLOSED else message

        async def close() -> None:
            outbox.put_nowait(_CLOSED)

        return send_many, receive, close

    client = SessionDriver(Session(client_main, limits=limits), *channel(to_client, to_server))
    server = SessionDriver(
        Session(server_main, limits=limits, redact_error=redact_error),
        *channel(to_server, to_client),
    )
    client.start()
    server.start()
    return client, server
