"""`SessionDriver`: pumps one `Session` over one message channel (WebSocket or in-memory)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dotdo.errors import DotDoConnectionError, ProtocolError
from dotdo.transport.scheduler import AsyncioScheduler
from dotdo.transport.session import Session
from dotdo.transport.stub import RpcStub

__all__ = ["SessionDriver"]

logger = logging.getLogger("dotdo.transport")

SendMany = Callable[[list[str]], Awaitable[None]]
Receive = Callable[[], Awaitable[str | bytes | None]]


class SessionDriver:
    """Owns a session, its reader and writer tasks, and the tasks its targets spawn.

    Args:
        session: the protocol core to drive.
        send_many: sends messages in order, one per frame; raising ends the session.
        receive: the next message, or None when the peer closed cleanly.
        close_channel: closes the underlying channel (called once, at the end).
    """

    def __init__(
        self,
        session: Session,
        send_many: SendMany,
        receive: Receive,
        close_channel: Callable[[], Awaitable[None]],
    ) -> None:
        self.session = session
        self._send_many = send_many
        self._receive = receive
        self._close_channel = close_channel
        self._loop = asyncio.get_running_loop()
        self._scheduler = AsyncioScheduler(self._loop)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.finished = asyncio.Event()
        session.attach(self._scheduler)
        session.on_outgoing = self._on_outgoing

    def start(self) -> None:
        """Start reading and writing."""
        self._tasks = [
            self._loop.create_task(self._read_loop()),
            self._loop.create_task(self._write_loop()),
        ]

    def main_stub(self) -> RpcStub:
        return self.session.main_stub()

    def _on_outgoing(self) -> None:
        # May run in a finalizer on another thread; waking the loop must be thread-safe.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _write_loop(self) -> None:
        session = self.session
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                messages = session.take_outgoing()
                if messages:
                    await self._send_many(messages)
                if not session.is_open and not session._outbox:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            session.abort(DotDoConnectionError(f"sending failed: {error}"), notify_peer=False)
            self._tasks[0].cancel()

    async def _read_loop(self) -> None:
        session = self.session
        try:
            while session.is_open:
                message = await self._receive()
                if message is None:
                    session.abort(
                        DotDoConnectionError("the peer closed the connection"), notify_peer=False
                    )
                    break
                try:
                    session.receive(message)
                except ProtocolError:
                    logger.warning(
                        "aborting the session: the peer broke the protocol", exc_info=True
                    )
                    break
        except asyncio.CancelledError:
            raise
        except Exception as error:
            session.abort(
                DotDoConnectionError(f"the connection was lost: {error}"), notify_peer=False
            )
        finally:
            self._wake.set()
        # Let the abort message (if any) go out before the channel closes.
        await asyncio.sleep(0)
        self._loop.create_task(self.close())

    async def close(self, reason: BaseException | None = None) -> None:
        """End the session (telling the peer), stop every task, close the channel."""
        if self._closed:
            await self.finished.wait()
            return
        self._closed = True
        session = self.session
        if session.is_open:
            session.abort(reason or DotDoConnectionError("the connection was closed"))
        self._wake.set()
        writer = self._tasks[1] if len(self._tasks) > 1 else None
        if writer is not None and not writer.done():
            # Give queued messages (the abort) a moment to leave; a stuck socket must not hang us.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(writer), timeout=1.0)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current and not task.done():
                task.cancel()
        await self._scheduler.close()
        try:
            await self._close_channel()
        except Exception:
            logger.debug("closing the channel failed", exc_info=True)
        others = [t for t in self._tasks if t is not current]
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        self.finished.set()

    def stats(self) -> dict[str, Any]:
        return self.session.stats()
