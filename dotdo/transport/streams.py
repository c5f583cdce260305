"""Streams: a remote stream arrives as an async iterator, and an async iterator goes as one.

Sending: any async iterable in a value becomes ``["readable", id]`` after a ``["pipe"]`` message;
its chunks are pumped as ``["stream", write(chunk)]`` calls with up to `WRITE_WINDOW` unanswered
at once (so a slow reader slows the writer), then ``close()`` — or ``abort(error)`` if the iterator
raised. Receiving: the pipe's writable end is a `PipeSink` export; the application gets its
readable end, an `RpcReadableStream`. A ``["writable", id]`` from the peer arrives as an
`RpcWritableStream` to write into.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from dotdo.errors import DotDoConnectionError
from dotdo.transport.hooks import Hook, Node, Payload, Scheduler
from dotdo.transport.stub import RpcPromise
from dotdo.transport.target import RpcTarget

__all__ = ["WRITE_WINDOW", "PipeSink", "RpcReadableStream", "RpcWritableStream", "pump"]

WRITE_WINDOW = 32
"""Most stream writes a sender keeps unanswered (the reference sizes this by bandwidth)."""
_HIGH_WATER = 256
"""Chunks a reader may fall behind before the sink stops answering writes (backpressure)."""


class RpcReadableStream:
    """A stream from the peer: ``async for chunk in stream``. It can be iterated once."""

    def __init__(self, scheduler: Scheduler | None) -> None:
        self._scheduler = scheduler
        self._chunks: collections.deque[Any] = collections.deque()
        self._done = False
        self._error: BaseException | None = None
        self._waiter: Any = None  # a future while the reader waits for a chunk
        self._drained: Any = None  # a future while a writer waits for the reader
        self._cancelled = False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                raise StopAsyncIteration
            self._waiter = self._new_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        if self._drained is not None and len(self._chunks) < _HIGH_WATER // 2:
            _settle(self._drained)
            self._drained = None
        return chunk

    async def read_all(self) -> list[Any]:
        """Every remaining chunk, once the writer closes."""
        return [chunk async for chunk in self]

    def cancel(self) -> None:
        """Stop reading: queued chunks are dropped and the writer's next write fails."""
        self._cancelled = True
        self._chunks.clear()
        self._wake_all()

    def __del__(self) -> None:
        if not self._done and self._error is None and not self._cancelled:
            self.cancel()

    def _new_future(self) -> Any:
        if self._scheduler is None:
            raise RuntimeError("this stream has no event loop to wait on")
        return self._scheduler.create_future()

    # -- fed by the sink ------------------------------------------------------------------

    def _push(self, chunk: Any) -> Any:
        if self._cancelled:
            raise DotDoConnectionError("the reader stopped reading this stream")
        self._chunks.append(chunk)
        if self._waiter is not None:
            _settle(self._waiter)
        if len(self._chunks) >= _HIGH_WATER:
            if self._drained is None:
                self._drained = self._new_future()
            return self._drained
        return None

    def _finish(self) -> None:
        self._done = True
        self._wake_all()

    def _fail(self, error: BaseException) -> None:
        if not self._done and self._error is None:
            self._error = error
        self._wake_all()

    def _wake_all(self) -> None:
        for future in (self._waiter, self._drained):
            if future is not None and not future.get_loop().is_closed():
                _settle(future)
        self._drained = None


def _settle(future: Any) -> None:
    if not future.done():
        future.set_result(None)


class PipeSink(RpcTarget):
    """The writable end of a pipe the peer opened: what its ``write``/``close``/``abort`` reach."""

    def __init__(self, readable: RpcReadableStream) -> None:
        self._readable = readable
        self._closed = False

    def write(self, chunk: Any) -> Any:
        """Queue one chunk for the reader; while it is far behind, answer only once it catches up.

        Synchronous on purpose: a write must be queued before a ``close`` that follows it is
        handled, and an ``async def`` would run later, in a task.
        """
        if self._closed:
            raise TypeError("write after close")
        return self._readable._push(chunk)  # None, or a future that settles when drained

    def close(self) -> None:
        """The writer is done: the reader's iteration ends after the queued chunks."""
        self._closed = True
        self._readable._finish()

    def abort(self, reason: Any = None) -> None:
        """The writer failed: the reader's iteration raises ``reason``."""
        self._closed = True
        error = (
            reason
            if isinstance(reason, BaseException)
            else DotDoConnectionError(f"the stream was aborted by the writer: {reason}")
        )
        self._readable._fail(error)

    def _on_rpc_dispose(self) -> None:
        if not self._closed:
            self._readable._fail(DotDoConnectionError("the stream ended without being closed"))


class RpcWritableStream:
    """A stream the peer lets us write into (from ``["writable", id]``)."""

    def __init__(self, hook: Hook) -> None:
        self._hook = hook
        self._closed = False

    async def write(self, chunk: Any) -> None:
        """Send one chunk; returns when the peer accepted it."""
        await RpcPromise(self._hook.stream(("write",), Payload([chunk])))

    async def close(self) -> None:
        """Finish the stream; raises if any write failed."""
        self._closed = True
        try:
            await RpcPromise(self._hook.stream(("close",), Payload([])))
        finally:
            self._hook.dispose()

    async def abort(self, reason: Any = None) -> None:
        """End the stream abnormally."""
        self._closed = True
        try:
            await RpcPromise(self._hook.stream(("abort",), Payload([reason])))
        finally:
            self._hook.dispose()


async def pump(source: AsyncIterable[Any], sink: Hook) -> None:
    """Write every chunk of ``source`` into the pipe ``sink``, then close it (or abort it)."""
    writer = RpcWritableStream(sink)
    in_flight: collections.deque[RpcPromise] = collections.deque()
    try:
        async for chunk in source:
            in_flight.append(RpcPromise(sink.stream(("write",), Payload([chunk]))))
            if len(in_flight) >= WRITE_WINDOW:
                await in_flight.popleft()
        while in_flight:
            await in_flight.popleft()
    except Exception as error:
        await writer.abort(error)
        return
    await writer.close()


def new_pipe_export(scheduler: Scheduler | None) -> tuple[Node, PipeSink, RpcReadableStream]:
    """The pieces of a pipe the peer opened: its export node, sink and readable end."""
    readable = RpcReadableStream(scheduler)
    sink = PipeSink(readable)
    return Node.of(scheduler, sink), sink, readable
