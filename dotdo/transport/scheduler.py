"""The asyncio side of the sans-IO core: futures for awaiting, tasks for async RPC methods."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dotdo.transport.hooks import Node

__all__ = ["AsyncioScheduler"]


class AsyncioScheduler:
    """Runs the coroutines a session's targets return, and owns them: `close` cancels them."""

    __slots__ = ("_loop", "_tasks", "create_future")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        # The loop's own method, not a wrapper around it: every awaited call makes a future.
        self.create_future: Callable[[], asyncio.Future[Any]] = self._loop.create_future
        """A future of this scheduler's event loop."""

    def spawn(self, awaitable: Any, node: Node) -> None:
        """Run ``awaitable`` as a task that settles ``node`` with its outcome."""
        task = self._loop.create_task(_settle(awaitable, node))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> bool:
        """True while any spawned method is still running."""
        return bool(self._tasks)

    async def close(self) -> None:
        """Cancel every method still running and wait for them to finish."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def _settle(awaitable: Any, node: Node) -> None:
    try:
        result = await awaitable
    except asyncio.CancelledError:
        node.reject(asyncio.CancelledError("the RPC call was cancelled"))
        raise
    except Exception as error:
        node.reject(error)
    else:
        node.resolve(result)
