"""Two sessions linked in one process: no sockets, same protocol (messages still go as JSON text).

Used for the in-process platform (``memory://``) and for tests of the core. Each side's messages
reach the other on the next event-loop turn, as they would over a socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dotdo.transport.channel import SessionDriver
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.session import Session

__all__ = ["memory_pair"]


def memory_pair(
    client_main: Any = None,
    server_main: Any = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    redact_error: Callable[[BaseException], BaseException] | None = None,
) -> tuple[SessionDriver, SessionDriver]:
    """A client and a server driver joined in memory (call from inside a running event loop)."""
    loop = asyncio.get_running_loop()
    ends: dict[str, SessionDriver] = {}

    def writer(to: str) -> Callable[[list[str]], None]:
        def write(messages: list[str]) -> None:
            peer = ends[to]
            if not peer.session.is_open:
                raise ConnectionError("the other end is closed")
            loop.call_soon(peer.deliver_all, messages)

        return write

    def closer(to: str) -> Callable[[], Any]:
        async def close() -> None:
            peer = ends[to]
            loop.call_soon(peer.channel_closed, None)

        return close

    ends["client"] = SessionDriver(
        Session(client_main, limits=limits),
        write_now=writer("server"),
        close_channel=closer("server"),
    )
    ends["server"] = SessionDriver(
        Session(server_main, limits=limits, redact_error=redact_error),
        write_now=writer("client"),
        close_channel=closer("client"),
    )
    return ends["client"], ends["server"]
