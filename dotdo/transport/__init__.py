"""Cap'n Web for Python: the protocol core, stubs, and the transports that carry it.

from dotdo.transport import connect, RpcTarget

async with connect("ws://127.0.0.1:8787/rpc") as api:
    assert await api.square(5) == 25
"""

from dotdo.transport.asgi import RpcAsgiApp
from dotdo.transport.connect import Connection, connect
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.memory import memory_pair
from dotdo.transport.session import Session
from dotdo.transport.stub import RpcPromise, RpcStub
from dotdo.transport.target import RpcTarget
from dotdo.transport.wire import UNDEFINED, Undefined

__all__ = [
    "DEFAULT_LIMITS",
    "UNDEFINED",
    "Connection",
    "Limits",
    "RpcAsgiApp",
    "RpcPromise",
    "RpcStub",
    "RpcTarget",
    "Session",
    "Undefined",
    "connect",
    "memory_pair",
]
