"""Fixtures for the namespace tests: one in-process platform for the whole run, a client per test.

Building a platform costs most of a second (keys, bcrypt for the dev tenant's admin), so the
tests share one. Each test names its own tables, collections, users and log categories, which
keeps the shared state harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from dotdo._client import DotDo
from dotdo.server import Platform, Settings
from dotdo.transport.target import RpcTarget


class Item(RpcTarget):
    """A capability a service hands out, so ``.map()`` has something to call."""

    def __init__(self, name: str) -> None:
        self._name = name

    def describe(self) -> str:
        return f"item {self._name}"


class Ai(RpcTarget):
    """A user service, reachable as ``dotdo.rpc.ai``."""

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, options: dict[str, str]) -> str:
        self.calls += 1
        return f"generated: {options['prompt']}"

    def tokens(self, text: str) -> list[str]:
        return text.split()

    def token_stream(self, text: str) -> AsyncIterator[str]:
        async def produce() -> AsyncIterator[str]:
            for token in text.split():
                yield token

        return produce()

    def items(self, count: int) -> list[Item]:
        return [Item(str(index)) for index in range(count)]

    def fail(self) -> None:
        raise RuntimeError("the model is on fire")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def ai() -> Ai:
    return Ai()


@pytest.fixture(scope="session")
def platform(ai: Ai) -> Iterator[Platform]:
    with Platform(settings=Settings(bcrypt_rounds=4), services={"ai": ai}) as platform:
        yield platform


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[DotDo]:
    client = DotDo()
    client.use_platform(platform)  # share the session's platform (see the module doc)
    try:
        yield client
    finally:
        await client.close()  # leaves the platform open: the platform fixture closes it


@pytest.fixture
def name() -> str:
    """A fresh name for a table, collection, user or category: tests share one platform."""
    return "t" + uuid.uuid4().hex[:12]
