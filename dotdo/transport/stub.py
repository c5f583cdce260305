"""`RpcStub` and `RpcPromise`: the Python face of a capability.

Attribute access and calls build the request at once and never wait: ``api.makeCounter(1)``
sends the call and returns an `RpcPromise` you can keep calling (``.increment(2)``) before it
settles — promise pipelining. ``await`` a promise for its value. Names that clash with the stub's
own methods (``map``, ``dispose``) or start with ``_`` are reached with ``stub["name"]``.

A stub owns one reference to its hook and releases it when disposed (``dispose()``,
``async with``); a remote hook that is garbage-collected releases itself. Promises made from a
stub by attribute access share its hook and keep it alive.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from dotdo.errors import CapabilityError

if TYPE_CHECKING:
    from dotdo.transport.hooks import Hook, Path

__all__ = ["MAP_RECORDER", "RpcMainStub", "RpcPromise", "RpcStub"]

MAP_RECORDER: ContextVar[Any] = ContextVar("dotdo_map_recorder", default=None)
"""Set while a ``.map()`` callback is recorded: calls on any stub are then recorded, not sent."""


class RpcStub:
    """A reference to an object on the other side (or a local one, used the same way)."""

    __slots__ = ("__weakref__", "_hook", "_owner", "_path")

    _hook: Hook | None
    _path: Path
    _owner: RpcStub | None

    def __init__(self, hook: Hook, path: Path = (), owner: RpcStub | None = None) -> None:
        self._hook = hook
        self._path = path
        # A stub made by attribute access shares its owner's hook and keeps the owner alive;
        # only an owner disposes the hook.
        self._owner = owner

    def _live_hook(self) -> Hook:
        hook = self._hook if self._owner is None else self._owner._hook
        if hook is None:
            raise CapabilityError("this stub was disposed and can no longer be used")
        return hook

    def _owned_hook(self) -> Hook:
        """A new reference to exactly what this stub names; the caller disposes it."""
        hook = self._live_hook()
        return hook.get(self._path) if self._path else hook.dup()

    def __getattr__(self, name: str) -> RpcPromise:
        if name.startswith("_"):
            raise AttributeError(name)
        return RpcPromise(self._live_hook(), (*self._path, name), self._owner or self)

    def __getitem__(self, key: str | int) -> RpcPromise:
        if type(key) is not int and not isinstance(key, str):
            raise TypeError("an RPC property name must be a str or an int")
        return RpcPromise(self._live_hook(), (*self._path, key), self._owner or self)

    def __call__(self, *args: Any, **kwargs: Any) -> RpcPromise:
        if kwargs:
            raise TypeError(
                "RPC calls take positional arguments only; pass a dict for named options"
            )
        recorder = MAP_RECORDER.get()
        if recorder is not None:
            return RpcPromise(recorder.record(self._live_hook(), self._path, list(args)))
        payload = _hooks.Payload.from_app(list(args))
        return RpcPromise(self._live_hook().call(self._path, payload))

    def map(self, mapper: Callable[[Any], Any]) -> RpcPromise:
        """Apply ``mapper`` to the value remotely, element-wise for an array, in one round trip.

        ``mapper`` is run once, locally, with a placeholder: the calls it makes on the
        placeholder and on captured stubs are recorded and replayed by the peer. So it must not
        branch on its argument, await, or have side effects.
        """
        from dotdo.transport.map import record_map

        return record_map(self._live_hook(), self._path, mapper)

    def dispose(self) -> None:
        """Release this reference now. Using the stub afterwards raises `CapabilityError`."""
        if self._owner is None and self._hook is not None:
            hook, self._hook = self._hook, None
            hook.dispose()

    async def __aenter__(self) -> RpcStub:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        path = ".".join(str(part) for part in self._path)
        return f"<{type(self).__name__} {path}>" if path else f"<{type(self).__name__}>"

    def __bool__(self) -> bool:
        return True


class RpcMainStub(RpcStub):
    """The stub for a peer's main object: it remembers the member stubs made from it.

    ``api.square`` is then a plain attribute read after its first use, rather than a new stub per
    call (about 1.7 us of a call's 30 us of CPU, measured). A main stub lives as long as its
    session, so the references between it and its members delay nothing.
    """

    __slots__ = ("__dict__",)

    def __getattr__(self, name: str) -> RpcPromise:
        member = super().__getattr__(name)
        members = self.__dict__
        if len(members) < _MAX_REMEMBERED_MEMBERS:
            members[name] = member
        return member


_MAX_REMEMBERED_MEMBERS = 256
"""A main stub remembers at most this many members (names may come from data)."""


class RpcPromise(RpcStub):
    """The result of a call or property read that may not have arrived yet.

    Await it for the value; call or read through it to pipeline without waiting.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Any]:
        hook = self._live_hook()
        if self._path:
            hook = hook.get(self._path)
        try:
            outcome = hook.try_pull()
            if outcome is None:
                scheduler = hook.scheduler
                if scheduler is None:
                    raise CapabilityError("this promise cannot be awaited outside its session")
                future = scheduler.create_future()

                def done(ok: bool, value: Any) -> None:
                    if not future.done():
                        future.set_result((ok, value))

                hook.pull(done)
                outcome = yield from future.__await__()
        finally:
            if self._path:
                hook.dispose()
        ok, value = outcome
        if ok:
            return value
        raise value


# Imported last: hooks.py imports this module's classes. A function-level import would cost
# almost a microsecond on every call.
from dotdo.transport import hooks as _hooks  # noqa: E402
