"""A session test harness like capnweb's `TestHarness`: two sans-IO sessions joined in memory.

No driver and no channel: messages go from one session's `take_outgoing()` straight into the
other's `receive()`, on the next turn of the event loop, and every one is logged so tests can
assert the exact wire traffic. Each test ends with `check_all_released()`, which fails if either
side's import or export table did not go back to where it started.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

from dotdo.errors import ProtocolError
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.scheduler import AsyncioScheduler
from dotdo.transport.session import Session
from dotdo.transport.stub import RpcStub

CLIENT = "client"
SERVER = "server"
_START = {"imports": 1, "exports": 1}  # each side's main object, and its import of the peer's
_ENDED = {"imports": 0, "exports": 0}  # an aborted session drops everything


class TestHarness:
    """A client session and a server session, linked, with the wire traffic in `log`.

    Args:
        server_main: the server's main object (what the client's `stub` calls).
        client_main: the client's main object, if the server should be able to call it.
        server_limits, client_limits: each side's receive limits.
        redact_error: the server's error redaction hook.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(
        self,
        server_main: Any,
        *,
        client_main: Any = None,
        server_limits: Limits = DEFAULT_LIMITS,
        client_limits: Limits = DEFAULT_LIMITS,
        redact_error: Callable[[BaseException], BaseException] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.client = Session(client_main, limits=client_limits)
        self.server = Session(server_main, limits=server_limits, redact_error=redact_error)
        self.log: list[tuple[str, str]] = []
        """Every message delivered, in order, as ``(sender, json_text)``."""
        self.receive_errors: list[tuple[str, ProtocolError]] = []
        """``(receiver, error)`` for every message a side refused."""
        self._schedulers = [AsyncioScheduler(self._loop), AsyncioScheduler(self._loop)]
        self._pump_scheduled = False
        for session, scheduler in zip((self.client, self.server), self._schedulers, strict=True):
            session.attach(scheduler)
            session.on_outgoing = self._schedule_pump

    @property
    def stub(self) -> RpcStub:
        """A new stub for the server's main object, held by the client."""
        return self.client.main_stub()

    def sent_by(self, sender: str) -> list[str]:
        """The messages ``sender`` (CLIENT or SERVER) has sent so far."""
        return [text for who, text in self.log if who == sender]

    def _schedule_pump(self) -> None:
        if not self._pump_scheduled and not self._loop.is_closed():
            self._pump_scheduled = True
            self._loop.call_soon(self.pump)

    def pump(self) -> bool:
        """Deliver every queued message both ways until neither side has anything to send.

        Returns whether any message moved.
        """
        self._pump_scheduled = False
        moved_any = False
        routes = (
            (CLIENT, self.client, SERVER, self.server),
            (SERVER, self.server, CLIENT, self.client),
        )
        moved = True
        while moved:
            moved = False
            for sender, source, receiver, destination in routes:
                for text in source.take_outgoing():
                    moved = True
                    self.log.append((sender, text))
                    try:
                        destination.receive(text)
                    except ProtocolError as error:
                        self.receive_errors.append((receiver, error))
            moved_any = moved_any or moved
        return moved_any

    async def settle(self) -> None:
        """Run the loop until all is quiet, then collect garbage (stubs release on finalization)
        and go on until that moves nothing either."""
        collected = False
        for _ in range(20):
            for _ in range(4):
                await asyncio.sleep(0)
            if self.pump():
                continue
            if collected:
                return
            gc.collect()
            collected = True

    async def check_all_released(self) -> None:
        """Fail unless both sides' tables are back to their starting size (empty, if aborted)."""
        await self.settle()
        for name, session in ((CLIENT, self.client), (SERVER, self.server)):
            expected = _START if session.is_open else _ENDED
            assert session.stats() == expected, f"{name} leaked; traffic: {self.log}"

    async def close(self) -> None:
        """Detach from the loop and cancel any method still running."""
        for session in (self.client, self.server):
            session.on_outgoing = None
        for scheduler in self._schedulers:
            await scheduler.close()
