"""``dotdo.rpc``: raw calls to the platform's user services, by attribute path or dotted name.

``await dotdo.rpc.ai.generate({"prompt": "hi"})`` calls ``api.rpc.ai.generate(...)``. Arguments
are positional (Cap'n Web carries no keywords): pass a dict for named options. A custom method may
not be idempotent, so calls are retried only when the request never left this process.

Streaming: :meth:`Rpc.stream` iterates a list the method returns. True streaming (a
``ReadableStream`` over Cap'n Web) needs stream support in the transport, which is not built yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any

from dotdo.errors import ValidationError
from dotdo.namespaces._base import Namespace

if TYPE_CHECKING:
    from dotdo._client import DotDo

__all__ = ["Rpc", "RpcCall", "RpcPath", "RpcStream"]


def _method_path(method: str) -> tuple[str, ...]:
    parts = tuple(method.split(".")) if isinstance(method, str) else ()
    if not parts or not all(part.isidentifier() and not part.startswith("_") for part in parts):
        raise ValidationError(f"method must be a dotted name such as 'ai.generate', got {method!r}")
    return parts


class Rpc(Namespace):
    """User services: ``await dotdo.rpc.<service>.<method>(*args)``.

    A service whose name clashes with a method here (``call``, ``stream``) is reached as
    ``dotdo.rpc["call"]``.
    """

    def __init__(self, client: DotDo) -> None:
        super().__init__(client, "rpc")

    def __getattr__(self, name: str) -> RpcPath:
        if name.startswith("_"):
            raise AttributeError(name)
        return RpcPath(self._client, (name,))

    def __getitem__(self, name: str) -> RpcPath:
        return RpcPath(self._client, _method_path(name))

    async def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Call a service method by dotted name: ``await dotdo.rpc.call("ai.generate", {...})``.

        Args:
            method: ``"<service>.<method>"`` (deeper paths are allowed).
            args: the method's positional arguments.
            timeout: total seconds for this call (default: the client's).

        Raises:
            ValidationError: ``method`` is not a dotted name (raised before anything is sent).
            NotFoundError: no such service or method.
            ServiceError: the service raised something other than a dotdo error (the platform
                logs it under the error's ``request_id``); a dotdo error it raises arrives as is.
            RpcError: a peer other than the dotdo platform raised an error type dotdo does not
                declare.
        """
        path = _method_path(method)
        return await self._client._call(("rpc", *path), args, idempotent=False, timeout=timeout)

    def stream(self, method: str, *args: Any) -> RpcStream:
        """Iterate what ``method`` streams back: ``async for chunk in dotdo.rpc.stream(...)``.

        A service method streams by returning an async iterator (an ``async def`` generator);
        chunks arrive as the service produces them, over the same session, and a slow reader
        slows the producer. A method that returns a list is iterated item by item. The call is
        sent on the first ``__anext__`` and, like :meth:`call`, not retried.

        Raises:
            ValidationError: ``method`` is not a dotted name (raised here, before anything is
                sent), or, while iterating, the method returned neither a stream nor a list.
            RpcError, ServiceError, DotDoConnectionError: the service or the stream failed.
        """
        _method_path(method)
        return RpcStream(self, method, args)


class RpcStream:
    """The chunks of a streaming (or list-returning) call, as an async iterator."""

    __slots__ = ("_args", "_items", "_method", "_rpc")

    def __init__(self, rpc: Rpc, method: str, args: tuple[Any, ...]) -> None:
        self._rpc = rpc
        self._method = method
        self._args = args
        self._items: AsyncIterator[Any] | None = None

    def __aiter__(self) -> RpcStream:
        return self

    async def __anext__(self) -> Any:
        if self._items is None:
            result = await self._rpc.call(self._method, *self._args)
            if isinstance(result, list):
                self._items = _iterate(result)
            elif hasattr(result, "__aiter__"):
                self._items = result.__aiter__()
            else:
                raise ValidationError(
                    f"stream() needs a method that returns a stream or a list; {self._method!r}"
                    f" returned {type(result).__name__}"
                )
        return await self._items.__anext__()

    def __repr__(self) -> str:
        return f"<dotdo.rpc.stream {self._method}>"


class RpcPath:
    """A lazy path under ``dotdo.rpc`` (``dotdo.rpc.ai.generate``); calling it makes an
    :class:`RpcCall`. Nothing is sent until that call is awaited.
    """

    __slots__ = ("_client", "_path")

    def __init__(self, client: DotDo, path: tuple[str, ...]) -> None:
        self._client = client
        self._path = path

    def __getattr__(self, name: str) -> RpcPath:
        if name.startswith("_"):
            raise AttributeError(name)
        return RpcPath(self._client, (*self._path, name))

    def __getitem__(self, name: str) -> RpcPath:
        return RpcPath(self._client, (*self._path, *_method_path(name)))

    def __call__(self, *args: Any) -> RpcCall:
        return RpcCall(self._client, self._path, args)

    def __repr__(self) -> str:
        return f"<dotdo.rpc.{'.'.join(self._path)}>"


class RpcCall:
    """A call not sent yet: ``await`` it for the result, or ``await call.map(fn)``.

    Each ``await`` sends the call once more; it is retried only if the request never left.
    """

    __slots__ = ("_args", "_client", "_path")

    def __init__(self, client: DotDo, path: tuple[str, ...], args: tuple[Any, ...]) -> None:
        self._client = client
        self._path = path
        self._args = args

    def __await__(self) -> Generator[Any, None, Any]:
        return self._client._call(("rpc", *self._path), self._args, idempotent=False).__await__()

    async def map(self, fn: Callable[[Any], Any]) -> Any:
        """Apply ``fn`` to the result on the platform (element-wise for a list), in one round trip.

        ``fn`` runs once, here, on a placeholder: the calls it makes on it are recorded and
        replayed remotely, so it must not branch on its argument, await, or have side effects.
        Sent once, never retried.
        """
        from dotdo.namespaces.db import bounded

        promise = await self._client._capability(("rpc", *self._path), self._args)
        return await bounded(self._client, promise.map(fn), f"{'.'.join(self._path)}().map()")

    def __repr__(self) -> str:
        return f"<dotdo.rpc.{'.'.join(self._path)}(...)>"


async def _iterate(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item
