"""The fault proxy itself, against a plain TCP echo server: each fault does what it says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from .faults import FaultProxy

pytestmark = pytest.mark.anyio


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_proxy() -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    async with FaultProxy(server.sockets[0].getsockname()[1]) as proxy:
        yield proxy
    server.close()
    await server.wait_closed()


async def _connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _nothing_arrives(reader: asyncio.StreamReader) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), 0.2)
    except TimeoutError:
        return True
    return False


async def test_forwards_both_ways_and_counts_connections(echo_proxy: FaultProxy) -> None:
    reader, writer = await _connect(echo_proxy)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    assert (echo_proxy.accepts, echo_proxy.upstream_attempts) == (1, 1)
    writer.close()


async def test_delay_holds_data_back_then_delivers_it(echo_proxy: FaultProxy) -> None:
    reader, writer = await _connect(echo_proxy)
    echo_proxy.delay(0.5)
    writer.write(b"slow")
    assert await _nothing_arrives(reader)
    assert await reader.readexactly(4) == b"slow"
    writer.close()


async def test_drop_silences_live_connections_but_not_new_ones(echo_proxy: FaultProxy) -> None:
    reader, writer = await _connect(echo_proxy)
    assert echo_proxy.drop() == 1
    writer.write(b"lost")
    assert await _nothing_arrives(reader)
    assert not writer.is_closing()
    fresh_reader, fresh_writer = await _connect(echo_proxy)
    fresh_writer.write(b"fine")
    assert await fresh_reader.readexactly(4) == b"fine"
    writer.close()
    fresh_writer.close()


async def test_reset_closes_connections_abruptly(echo_proxy: FaultProxy) -> None:
    reader, writer = await _connect(echo_proxy)
    writer.write(b"x")
    await reader.readexactly(1)
    assert echo_proxy.reset() == 1
    with pytest.raises(ConnectionResetError):
        await reader.read(1)
    writer.close()


async def test_blackhole_accepts_but_never_answers(echo_proxy: FaultProxy) -> None:
    echo_proxy.blackhole()
    reader, writer = await _connect(echo_proxy)
    writer.write(b"hello?")
    assert await _nothing_arrives(reader)
    assert (echo_proxy.accepts, echo_proxy.upstream_attempts) == (1, 0)
    writer.close()


async def test_refuse_stops_listening_and_listen_resumes_on_the_same_port(
    echo_proxy: FaultProxy,
) -> None:
    port = echo_proxy.port
    await echo_proxy.refuse()
    with pytest.raises(ConnectionRefusedError):
        await _connect(echo_proxy)
    await echo_proxy.listen()
    assert echo_proxy.port == port
    reader, writer = await _connect(echo_proxy)
    writer.write(b"back")
    assert await reader.readexactly(4) == b"back"
    writer.close()


async def test_an_unreachable_upstream_resets_the_client_side() -> None:
    async with FaultProxy(1) as proxy:  # nothing listens on port 1
        reader, writer = await _connect(proxy)
        with pytest.raises(ConnectionResetError):
            await reader.read(1)
        assert proxy.upstream_attempts == 1
        writer.close()
