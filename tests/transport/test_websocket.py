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

from dotdo.transport import RpcTarget
from dotdo.transport.websocket import open_websocket_session

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
