"""`SessionDriver`: pumps one `Session` over one message channel.

Two shapes of channel are supported, because the fastest way to move frames differs:

* callback channels (our WebSocket client, the in-memory pair) write synchronously and hand each
  incoming message to `SessionDriver.deliver` from their protocol callback — no task switch per
  message; outgoing messages are flushed once per event-loop turn, so a burst of calls made
  before an ``await`` goes out together;
* task channels (ASGI, where sending is a coroutine) get a reader and a writer task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence

from dotdo.errors import DotDoConnectionError, ProtocolError
from dotdo.transport.scheduler import AsyncioScheduler
from dotdo.transport.session import Session
from dotdo.transport.stub import RpcStub

__all__ = ["SessionDriver"]

logger = logging.getLogger("dotdo.transport")

WriteNow = Callable[[list[str]], None]
SendMany = Callable[[list[str]], Awaitable[None]]
Receive = Callable[[], Awaitable[str | bytes | None]]
CloseChannel = Callable[[], Awaitable[None]]


class SessionDriver:
    """Owns a session, its I/O and the tasks its targets spawn; `close` ends all of them.

    Give either ``write_now`` (a synchronous writer; the channel then calls `deliver` and
    `channel_closed`) or ``send_many`` and ``receive`` (coroutines run by a writer and a reader
    task).
    """

    def __init__(
        self,
        session: Session,
        *,
        close_channel: CloseChannel,
        write_now: WriteNow | None = None,
        send_many: SendMany | None = None,
        receive: Receive | None = None,
    ) -> None:
        self.session = session
        self._write_now = write_now
        self._send_many = send_many
        self._receive = receive
        self._close_channel = close_channel
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._scheduler = AsyncioScheduler(self._loop)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.finished = asyncio.Event()
        session.attach(self._scheduler)
        session.on_outgoing = self._on_outgoing
        if write_now is not None:
            # The first call made in a loop turn is written now, as the reference client does:
            # the peer starts on it while the caller gets round to awaiting it (measured: 4-11%
            # more sequential calls/s). The same for the first caller to wait in a turn: its
            # pull is written now rather than a turn later.
            session.on_call = functools.partial(self._write_first_of_turn, "call")
            session.on_waiting = functools.partial(self._write_first_of_turn, "pull")
        self._written_this_turn: set[str] = set()  # "call", "pull": see _write_first_of_turn
        self._flush_scheduled = False
        self._delivering = False
        self._flush_wanted = False

    def start(self) -> None:
        """Start the reader and writer tasks (task channels only)."""
        if self._write_now is None:
            self._tasks = [
                self._loop.create_task(self._read_loop()),
                self._loop.create_task(self._write_loop()),
            ]

    def main_stub(self) -> RpcStub:
        """A stub for the peer's main object."""
        return self.session.main_stub()

    def stats(self) -> dict[str, int]:
        """Import and export table sizes of the session."""
        return self.session.stats()

    # -- outgoing -------------------------------------------------------------------------

    def _on_loop(self) -> bool:
        """True when called on this driver's loop thread (finalizers may run on other threads).

        Compares thread ids: `asyncio.get_running_loop` costs a getpid() system call per use.
        """
        return threading.get_ident() == self._loop_thread

    def _schedule(self, callback: Callable[[], object]) -> None:
        """``call_soon`` on this driver's loop, from any thread; nothing once the loop closed."""
        loop = self._loop
        if loop.is_closed():
            return
        if self._on_loop():
            loop.call_soon(callback)
        else:
            loop.call_soon_threadsafe(callback)

    def _wake_writer(self) -> None:
        if self._write_now is not None:
            self._flush()
        else:
            self._flush_scheduled = False
            self._wake.set()

    def _on_outgoing(self) -> None:
        # May run in a finalizer, even on another thread: only schedule, never write here.
        if self._delivering and self._on_loop():
            self._flush_wanted = True  # scheduled when `deliver` ends: see there
        elif self._write_now is None and self._on_loop():
            self._wake.set()  # the writer task wakes on the next turn; no need to schedule
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._schedule(self._wake_writer)

    def _write_first_of_turn(self, kind: str) -> bool:
        # Later ones of the same kind go together in a flush at the end of the turn. The record
        # is cleared by that flush and by each read (the callers a read wakes run in a turn of
        # their own), so a lone caller's messages never wait for a flush at all. What is queued
        # while a read is handled goes with what that read produced.
        if kind in self._written_this_turn or self._delivering or not self._on_loop():
            return False
        self._written_this_turn.add(kind)
        self._write_pending()
        return True

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._written_this_turn.clear()
        self._write_pending()

    def _write_pending(self) -> None:
        if self._write_now is None:
            return
        messages = self.session.take_outgoing()
        if not messages:
            return
        try:
            self._write_now(messages)
        except Exception as error:  # a failed write means the channel is gone
            self.channel_closed(DotDoConnectionError(f"sending failed: {error}"))

    async def _write_loop(self) -> None:
        assert self._send_many is not None
        session = self.session
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                messages = session.take_outgoing()
                if messages:
                    await self._send_many(messages)
                if not session.is_open:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any send failure means the channel is gone
            self.channel_closed(DotDoConnectionError(f"sending failed: {error}"))

    # -- incoming -------------------------------------------------------------------------

    def deliver(self, message: str | bytes) -> None:
        """Hand one incoming message to the session (callback channels)."""
        self.deliver_all((message,))

    def deliver_all(self, messages: Sequence[str | bytes]) -> None:
        """Hand the messages of one read to the session, in order (callback channels)."""
        self._written_this_turn.clear()
        wanted = False
        for message in messages:
            if self._handle(message):
                wanted = True
        if wanted:
            # What the messages made the session send (releases, answers to the peer's calls)
            # is written now, so the peer works on it while the tasks they woke run: measured,
            # 12% more sequential calls/s than riding along with the next call.
            self._write_pending()
            if len(messages) > 1:
                # Several callers may wake: a flush scheduled behind them runs in their loop
                # turn, so the calls after each turn's first leave with no turn of their own.
                self._on_outgoing()

    def _handle(self, message: str | bytes) -> bool:
        """Give ``message`` to the session; True if it left messages to send."""
        self._delivering = True
        try:
            self.session.receive(message)
        except ProtocolError:
            logger.warning("aborting the session: the peer broke the protocol", exc_info=True)
            self._end_soon()
        finally:
            self._delivering = False
        wanted, self._flush_wanted = self._flush_wanted, False
        return wanted

    def channel_closed(self, error: BaseException | None = None) -> None:
        """The channel is gone: fail everything pending and clean up."""
        self.session.abort(
            error or DotDoConnectionError("the peer closed the connection"), notify_peer=False
        )
        self._end_soon()

    async def _read_loop(self) -> None:
        assert self._receive is not None
        try:
            while self.session.is_open:
                message = await self._receive()
                if message is None:
                    self.channel_closed()
                    return
                if self._handle(message):
                    self._wake.set()  # straight to the writer: no scheduled hop on the way
            # The session ended while reading (the peer's abort): end the driver too, or its
            # owner (an ASGI handler waiting on `finished`) would wait forever.
            self._end_soon()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a broken channel ends the session
            self.channel_closed(DotDoConnectionError(f"the connection was lost: {error}"))
        finally:
            self._wake.set()

    def _end_soon(self) -> None:
        if not self._closing:
            task = self._loop.create_task(self.close())
            self._tasks.append(task)

    # -- closing --------------------------------------------------------------------------

    async def close(self, reason: BaseException | None = None) -> None:
        """End the session (telling the peer), stop every task, close the channel."""
        if self._closing:
            await self.finished.wait()
            return
        self._closing = True
        session = self.session
        if session.is_open:
            session.abort(reason or DotDoConnectionError("the connection was closed"))
        if self._write_now is not None:
            self._flush()
        else:
            self._wake.set()
            writer = self._tasks[1] if len(self._tasks) > 1 else None
            if writer is not None and not writer.done():
                # Give queued messages (the abort) a moment to leave; a stuck socket must not hang.
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(writer), timeout=1.0)
        current = asyncio.current_task()
        others = [task for task in self._tasks if task is not current]
        for task in others:
            task.cancel()
        await self._scheduler.close()
        try:
            await self._close_channel()
        except Exception:  # closing a broken channel may fail; it is closed anyway
            logger.debug("closing the channel failed", exc_info=True)
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        self.finished.set()
