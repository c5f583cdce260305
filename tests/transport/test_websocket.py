"""The WebSocket client's own frame reader, against a real websockets server on loopback.

Complete data frames are cut out by dotdo; everything else (fragments, control frames) must still
reach websockets whole. The server here plays the Cap'n Web peer by hand: it pushes calls to the
client's main object and pulls their results.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.speedups import apply_mask

from dotdo.transport import RpcTarget
from dotdo.transport.websocket import _RpcClientConnection, _text_frame, open_websocket_session

pytestmark = pytest.mark.anyio


class Echo(RpcTarget):
    def echo(self, value: Any) -> Any:
        return value


async def exchange(send: Any) -> list[Any]:
    """Run ``send(connection)`` as the server; return the messages the client answered with."""
    answers: list[Any] = []
    done = anyio.Event()

    async def handler(connection: ServerConnection) -> None:
        await send(connection)
        while len(answers) < 2:
            message = json.loads(await connection.recv())
            if message[0] == "resolve":
                answers.append(message)
        done.set()

    async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        driver = await open_websocket_session(f"ws://127.0.0.1:{port}/", local_main=Echo())
        try:
            with anyio.fail_after(10):  # a guard against a hang, not a timing assertion
                await done.wait()
        finally:
            await driver.close()
    return answers


def push_echo(value: Any) -> str:
    return json.dumps(["push", ["pipeline", 0, ["echo"], [value]]])


async def test_a_fragmented_message_is_reassembled() -> None:
    async def send(connection: ServerConnection) -> None:
        text = push_echo("fragmented")
        await connection.send([text[:10], text[10:20], text[20:]])  # three frames, one message
        await connection.send(push_echo("whole"))
        await connection.send('["pull",1]')
        await connection.send('["pull",2]')

    answers = await exchange(send)
    assert answers == [["resolve", 1, "fragmented"], ["resolve", 2, "whole"]]


async def test_a_frame_with_a_64_bit_length_is_read() -> None:
    big = "x" * 100_000  # over 65,535 bytes: the 8-byte length form

    async def send(connection: ServerConnection) -> None:
        await connection.send(push_echo(big))
        await connection.send(push_echo("small"))
        await connection.send('["pull",1]')
        await connection.send('["pull",2]')

    answers = await exchange(send)
    assert answers == [["resolve", 1, big], ["resolve", 2, "small"]]


async def test_a_ping_between_messages_is_still_answered() -> None:
    pong_received = anyio.Event()

    async def send(connection: ServerConnection) -> None:
        await connection.send(push_echo("before"))
        waiter = await connection.ping()
        await connection.send(push_echo("after"))
        await connection.send('["pull",1]')
        await connection.send('["pull",2]')
        with anyio.fail_after(5):
            await waiter
        pong_received.set()

    answers = await exchange(send)
    assert pong_received.is_set()
    assert answers == [["resolve", 1, "before"], ["resolve", 2, "after"]]


def server_frame(text: str) -> bytes:
    """One unmasked text frame, as a server sends it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload


def feed(connection: _RpcClientConnection, data: bytes) -> None:
    """Hand ``data`` to the connection as one socket read, the way the event loop does."""
    buffer = connection.get_buffer(len(data))
    buffer[: len(data)] = data
    connection.buffer_updated(len(data))


async def test_frames_split_across_reads_at_every_byte_are_read() -> None:
    # Reads end anywhere: inside a header, inside a 16-bit length, inside a payload. Each split
    # of a push and pull pair (one of them long enough for the 16-bit length form) must give
    # exactly one answer.
    long_value = "y" * 200
    resolved: list[Any] = []
    expected = 0
    done = anyio.Event()

    async def handler(connection: ServerConnection) -> None:
        async for message in connection:
            decoded = json.loads(message)
            if decoded[0] == "resolve":
                resolved.append(decoded)
                if len(resolved) == expected:
                    done.set()

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        driver = await open_websocket_session(f"ws://127.0.0.1:{port}/", local_main=Echo())
        connection = driver._write_now.__self__  # type: ignore[attr-defined]
        assert isinstance(connection, _RpcClientConnection)
        try:
            call = 0
            pair_size = len(server_frame(push_echo(long_value)) + server_frame('["pull",1]'))
            for split in range(pair_size + 1):
                call += 1
                data = server_frame(push_echo(long_value)) + server_frame(f'["pull",{call}]')
                for part in (data[:split], data[split:]):
                    if part:
                        feed(connection, part)
            expected = call
            with anyio.fail_after(10):  # a guard against a hang, not a timing assertion
                await done.wait()
        finally:
            await driver.close()
    assert resolved == [["resolve", number, long_value] for number in range(1, expected + 1)]


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 100_000])
def test_a_written_frame_unmasks_to_its_payload(size: int) -> None:
    payload = bytes(index % 251 for index in range(size))
    frame = _text_frame(payload)
    assert frame[0] == 0x81  # final text frame
    assert frame[1] & 0x80  # masked
    length, offset = frame[1] & 0x7F, 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    assert length == size
    mask = frame[offset : offset + 4]
    assert apply_mask(frame[offset + 4 :], mask) == payload


def test_masking_keys_differ_from_frame_to_frame() -> None:
    # Over 1,024 frames, so the pool of keys is refilled at least once.
    keys = [_text_frame(b"x")[2:6] for _ in range(3000)]
    assert len(set(keys)) > 2900  # 4 random bytes: a repeat or two is possible, not more
