"""RpcTargets the transport tests serve: small, deterministic, and counting what happened."""

from __future__ import annotations

import asyncio
from typing import Any

from dotdo.errors import NotFoundError
from dotdo.transport import RpcTarget


class Counter(RpcTarget):
    """A counter passed by reference; remembers whether the peer released it."""

    def __init__(self, start: int = 0) -> None:
        self._value = start
        self.disposed = False

    def increment(self, by: int = 1) -> int:
        self._value += by
        return self._value

    @property
    def value(self) -> int:
        return self._value

    def _on_rpc_dispose(self) -> None:
        self.disposed = True


class Doubler(RpcTarget):
    """A client-side capability the server calls back."""

    def __init__(self) -> None:
        self.disposed = False

    def double(self, x: int) -> int:
        return 2 * x

    def _on_rpc_dispose(self) -> None:
        self.disposed = True


class Api(RpcTarget):
    """The server's main object."""

    LIMIT = 10  # a class-level constant: reachable

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.made: list[Counter] = []
        self.shared = Counter(100)
        self.squared: list[Any] = []
        self.label = "instance attribute: unreachable"

    @property
    def version(self) -> str:
        return "1.0"

    def square(self, x: Any) -> Any:
        self.squared.append(x)
        return x * x

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def echo(self, value: Any) -> Any:
        return value

    def one(self) -> int:
        return 1

    def nothing(self) -> None:
        return None

    def fibonacci(self, n: int) -> list[int]:
        out, a, b = [], 0, 1
        for _ in range(n):
            out.append(a)
            a, b = b, a + b
        return out

    def make_counter(self, start: int) -> Counter:
        counter = Counter(start)
        self.made.append(counter)
        return counter

    async def make_counter_later(self, start: int) -> Counter:
        await self.gate.wait()
        return self.make_counter(start)

    async def wait_for_gate(self) -> str:
        await self.gate.wait()
        return "opened"

    def shared_counter(self) -> Counter:
        return self.shared

    def shared_counter_twice(self) -> list[Counter]:
        return [self.shared, self.shared]

    def counters(self, n: int) -> list[Counter]:
        return [self.make_counter(i) for i in range(n)]

    def counter_and_junk(self) -> list[Any]:
        return [self.make_counter(0), object()]

    async def increment_counter(self, counter: Any, by: int) -> Any:
        return await counter.increment(by)

    async def call_function(self, function: Any, arg: Any) -> Any:
        return await function(arg)

    async def use_doubler(self, doubler: Any, x: int) -> Any:
        return await doubler.double(x)

    def throw_type_error(self, message: str) -> None:
        raise TypeError(message)

    def throw_secret(self) -> None:
        raise ValueError("connection string postgres://admin:hunter2@db")

    def throw_not_found(self, name: str) -> None:
        raise NotFoundError(f"no secret named {name!r}", details={"name": name})

    def _private(self) -> str:
        return "private"
