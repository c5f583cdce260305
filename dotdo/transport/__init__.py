"""Cap'n Web for Python: the protocol core, stubs, and the transports that carry it.

    from dotdo.transport import connect, RpcTarget

    async with connect("ws://127.0.0.1:8787/rpc") as api:
        assert await api.square(5) == 25

The transports (`connect`, `RpcAsgiApp`, `memory_pair`) are imported on first use, so importing
the sans-IO core (`dotdo.transport.session`) pulls in no I/O library.
"""

from typing import TYPE_CHECKING, Any

from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.session import Session
from dotdo.transport.stub import RpcPromise, RpcStub
from dotdo.transport.target import RpcTarget
from dotdo.transport.wire import UNDEFINED, BigInt, Undefined

if TYPE_CHECKING:
    from dotdo.transport.asgi import RpcAsgiApp
    from dotdo.transport.connection import Connection, connect
    from dotdo.transport.memory import memory_pair
    from dotdo.transport.streams import RpcReadableStream, RpcWritableStream

__all__ = [
    "DEFAULT_LIMITS",
    "UNDEFINED",
    "BigInt",
    "Connection",
    "Limits",
    "RpcAsgiApp",
    "RpcPromise",
    "RpcReadableStream",
    "RpcStub",
    "RpcTarget",
    "RpcWritableStream",
    "Session",
    "Undefined",
    "connect",
    "memory_pair",
]

_LAZY = {
    "RpcAsgiApp": "dotdo.transport.asgi",
    "Connection": "dotdo.transport.connection",
    "connect": "dotdo.transport.connection",
    "memory_pair": "dotdo.transport.memory",
    "RpcReadableStream": "dotdo.transport.streams",
    "RpcWritableStream": "dotdo.transport.streams",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dotdo.transport' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
