"""The Python twin of tests/interop/node/api.mjs: the same TestApi, served by our ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from dotdo.errors import RpcError
from dotdo.transport import UNDEFINED, RpcTarget

_disposed_counters = 0


class Counter(RpcTarget):
    """A counter passed by reference."""

    def __init__(self, start: int = 0) -> None:
        self._value = start
        self._disposed = False

    def increment(self, by: int = 1) -> int:
        self._value += by
        return self._value

    @property
    def value(self) -> int:
        return self._value

    def _on_rpc_dispose(self) -> None:
        global _disposed_counters
        if not self._disposed:
            self._disposed = True
            _disposed_counters += 1


class TestApi(RpcTarget):
    """Same members, same behaviour as the Node TestApi."""

    def square(self, x: float) -> float:
        return x * x

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def echo(self, value: Any) -> Any:
        return value

    def makeCounter(self, start: int) -> Counter:
        return Counter(start)

    def generateFibonacci(self, n: int) -> list[int]:
        out, a, b = [], 0, 1
        for _ in range(n):
            out.append(a)
            a, b = b, a + b
        return out

    async def callFunction(self, fn: Any, arg: Any) -> dict[str, Any]:
        return {"result": await fn(arg)}

    async def callTwice(self, fn: Any, a: Any, b: Any) -> list[Any]:
        return [await fn(a), await fn(b)]

    def throwError(self, type_name: str, message: str) -> None:
        if type_name == "TypeError":
            raise TypeError(message)
        raise RpcError(message, remote_type=type_name if type_name == "RangeError" else "Error")

    def getUser(self, user_id: Any) -> dict[str, Any]:
        return {"id": user_id, "name": f"user{user_id}"}

    def getProfile(self, user_id: Any) -> dict[str, Any]:
        return {"userId": user_id, "bio": f"bio of {user_id}"}

    def returnCounterInObject(self, start: int) -> dict[str, Any]:
        return {"counter": Counter(start), "label": "c"}

    async def incrementCounter(self, counter: Any, by: int) -> Any:
        return await counter.increment(by)

    def nullValue(self) -> None:
        return None

    def undefinedValue(self) -> Any:
        return UNDEFINED

    def bigPayload(self, n: int) -> list[dict[str, Any]]:
        return [
            {"id": i, "name": f"item{i}", "tags": ["a", "b"], "score": i * 1.5} for i in range(n)
        ]

    def streamNumbers(self, n: int) -> AsyncIterator[int]:
        async def numbers() -> AsyncIterator[int]:
            for i in range(n):
                yield i

        return numbers()

    async def sumStream(self, stream: AsyncIterator[Any]) -> Any:
        total = 0
        async for chunk in stream:
            total += chunk
        return total

    def disposeCount(self) -> int:
        return _disposed_counters
