"""Streams against npm capnweb: ReadableStreams from the Node server, async iterators to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from dotdo.transport import connect
from tests.interop.conftest import Server

pytestmark = pytest.mark.anyio


async def numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def test_a_node_readable_stream_arrives_complete_and_in_order(node_server: Server) -> None:
    with anyio.fail_after(15):
        async with connect(node_server.ws_url) as api:
            stream = await api.streamNumbers(300)
            assert [chunk async for chunk in stream] == list(range(300))


async def test_a_python_async_iterator_reaches_node_as_a_readable_stream(
    node_server: Server,
) -> None:
    with anyio.fail_after(15):
        async with connect(node_server.ws_url) as api:
            assert await api.sumStream(numbers(200)) == sum(range(200))


async def test_streams_leave_the_tables_as_they_were(node_server: Server) -> None:
    with anyio.fail_after(15):
        connection = connect(node_server.ws_url)
        api = await connection.open()
        try:
            for _ in range(3):
                stream = await api.streamNumbers(20)
                assert len([chunk async for chunk in stream]) == 20
                assert await api.sumStream(numbers(20)) == sum(range(20))
            del stream
            await anyio.sleep(0.2)
            assert connection.stats() == {"imports": 1, "exports": 1}
        finally:
            await connection.close()
