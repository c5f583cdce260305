"""Streams: an async iterator goes as a pipe, a received stream arrives as an async iterator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dotdo.errors import RpcError
from dotdo.transport import RpcTarget
from dotdo.transport.memory import memory_pair
from dotdo.transport.streams import WRITE_WINDOW

pytestmark = pytest.mark.anyio


async def count_up(n: int, fail_at: int | None = None) -> AsyncIterator[int]:
    for i in range(n):
        if i == fail_at:
            raise ValueError("the source broke")
        yield i


class StreamApi(RpcTarget):
    def numbers(self, n: int, fail_at: int | None = None) -> AsyncIterator[int]:
        return count_up(n, fail_at)

    async def total(self, stream: AsyncIterator[Any]) -> int:
        return sum([chunk async for chunk in stream])

    async def first(self, stream: AsyncIterator[Any]) -> Any:
        async for chunk in stream:
            return chunk
        return None


async def test_a_stream_returned_by_the_server_arrives_in_order_and_complete() -> None:
    client, _server = memory_pair(server_main=StreamApi())
    api = client.main_stub()
    stream = await api.numbers(1000)
    assert [chunk async for chunk in stream] == list(range(1000))
    await client.close()


async def test_an_async_iterator_argument_reaches_the_server_as_a_stream() -> None:
    client, _server = memory_pair(server_main=StreamApi())
    api = client.main_stub()
    assert await api.total(count_up(500)) == sum(range(500))
    await client.close()


async def test_a_source_that_raises_makes_the_reader_raise_after_the_chunks_before_it() -> None:
    client, _server = memory_pair(server_main=StreamApi())
    api = client.main_stub()
    stream = await api.numbers(10, 3)
    seen: list[int] = []

    async def read_all() -> None:
        async for chunk in stream:
            seen.append(chunk)

    with pytest.raises(RpcError, match="the source broke"):
        await read_all()
    assert seen == [0, 1, 2]
    await client.close()


async def test_more_chunks_than_the_write_window_still_all_arrive() -> None:
    client, _server = memory_pair(server_main=StreamApi())
    api = client.main_stub()
    n = WRITE_WINDOW * 20
    assert await api.total(count_up(n)) == sum(range(n))
    await client.close()


async def test_streams_leave_no_import_or_export_behind() -> None:
    client, _server = memory_pair(server_main=StreamApi())
    api = client.main_stub()
    for _ in range(5):
        stream = await api.numbers(50)
        assert len([chunk async for chunk in stream]) == 50
        assert await api.total(count_up(50)) == sum(range(50))
    del stream
    await asyncio.sleep(0.05)
    assert client.stats() == {"imports": 1, "exports": 1}
    assert _server.stats() == {"imports": 1, "exports": 1}
    await client.close()


async def test_a_reader_that_stops_early_does_not_break_the_session() -> None:
    client, _server = memory_pair(server_main=StreamApi())
    api = client.main_stub()
    assert await api.first(count_up(10_000)) == 0
    assert await api.total(count_up(3)) == 3
    await client.close()


async def test_a_writer_is_held_back_once_the_reader_stops_reading() -> None:
    produced = []

    async def endless() -> AsyncIterator[int]:
        for i in range(100_000):
            produced.append(i)
            yield i

    client, _server = memory_pair(server_main=StreamApi())
    api = client.main_stub()
    assert await api.first(endless()) == 0
    await asyncio.sleep(0.2)
    # Backpressure holds the pump near high water + window, far from the 100,000 on offer.
    assert len(produced) < 5_000
    await client.close()
