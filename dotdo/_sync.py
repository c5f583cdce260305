"""``dotdo.sync``: every namespace without ``await``, for scripts and notebooks.

Calls run on a private event loop in a daemon thread (the "portal"), so they also work from
inside a running event loop (Jupyter): the caller's thread blocks, the portal does the I/O. The
portal has its own session, sharing the client's settings, breaker and retry budget.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import logging
import os
import threading
import weakref
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from dotdo._client import DotDo

__all__ = ["SyncDotDo"]

T = TypeVar("T")
_PLAIN = (str, int, float, bool, bytes, type(None), list, dict, tuple)
_MODELS = "dotdo.namespaces.models"


class _Portal:
    """An event loop in a daemon thread; `run` blocks until a coroutine finishes there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="dotdo-sync", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("dotdo.sync cannot be used from inside its own event loop")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


class SyncDotDo:
    """The blocking twin of a `DotDo` client: ``dotdo.sync.secrets.get("DB_URL")``."""

    def __init__(self, client: DotDo) -> None:
        self._client = client
        self._portal = _Portal()
        self._pid = os.getpid()
        atexit.register(_close_at_exit, weakref.ref(self))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _blocking(getattr(self._client, name), self._portal)

    def close(self) -> None:
        """Close the portal's sessions (flushing logs) and stop its thread."""
        portal = self._portal
        if not portal.loop.is_closed():
            try:
                portal.run(self._client.close())
            finally:
                portal.stop()

    def __repr__(self) -> str:
        return f"<dotdo.sync of {self._client!r}>"


def _close_at_exit(reference: weakref.ref[SyncDotDo]) -> None:
    twin = reference()
    # A forked child inherits the hook but not the portal's thread: nothing of its own to close.
    if twin is not None and twin._pid == os.getpid():
        # At exit nothing can be done about a failing close; say so on the dotdo logger.
        try:
            twin.close()
        except Exception:
            logging.getLogger("dotdo").debug("closing dotdo.sync at exit failed", exc_info=True)


def _blocking(value: Any, portal: _Portal) -> Any:
    """Wrap what has async methods (namespaces, builders, bound methods); pass data through."""
    if isinstance(value, _PLAIN):
        return value
    module = type(value).__module__
    if inspect.ismethod(value) or (
        module.startswith(("dotdo.namespaces", "dotdo._client")) and module != _MODELS
    ):
        return _BlockingProxy(value, portal)
    return value


class _BlockingProxy:
    """Wraps a namespace (or anything it returns): coroutines run on the portal."""

    __slots__ = ("_portal", "_target")

    def __init__(self, target: Any, portal: _Portal) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _blocking(getattr(self._target, name), self._portal)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self._target(*args, **kwargs)
        if inspect.iscoroutine(result):
            return _blocking(self._portal.run(result), self._portal)
        if inspect.isawaitable(result):
            return _blocking(self._portal.run(_await(result)), self._portal)
        return _blocking(result, self._portal)

    def __enter__(self) -> Any:
        return _blocking(self._portal.run(self._target.__aenter__()), self._portal)

    def __exit__(self, *exc_info: Any) -> Any:
        return self._portal.run(self._target.__aexit__(*exc_info))

    def __iter__(self) -> Any:
        iterator = self._target.__aiter__()
        while True:
            try:
                yield self._portal.run(_anext(iterator))
            except StopAsyncIteration:
                return

    def __repr__(self) -> str:
        return repr(self._target)


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _anext(iterator: Any) -> Any:
    return await iterator.__anext__()
