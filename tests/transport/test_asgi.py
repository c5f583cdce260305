"""The ASGI server side, driven directly with ASGI events (no HTTP server in between)."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from dotdo.transport import RpcAsgiApp, RpcTarget
from dotdo.transport.limits import Limits

pytestmark = pytest.mark.anyio


class Api(RpcTarget):
    def square(self, x: int) -> int:
        return x * x


async def run_websocket(app: RpcAsgiApp, frames: list[str]) -> list[dict[str, Any]]:
    """Feed ``frames`` after the handshake, then wait (bounded) for the handler to return."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []
    await inbox.put({"type": "websocket.connect"})
    for frame in frames:
        await inbox.put({"type": "websocket.receive", "text": frame})

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    with anyio.fail_after(5):  # a guard against a hang, not a timing assertion
        await app({"type": "websocket"}, inbox.get, send)
    return sent


async def test_the_websocket_handler_returns_after_the_peer_aborts() -> None:
    sent = await run_websocket(
        RpcAsgiApp(Api),
        [
            '["push",["pipeline",0,["square"],[4]]]',
            '["pull",1]',
            '["abort",["error","Error","bye"]]',
        ],
    )
    texts = [event.get("text") for event in sent if event["type"] == "websocket.send"]
    assert texts[0] == '["resolve",1,16]'


async def test_the_websocket_handler_returns_after_a_protocol_violation() -> None:
    sent = await run_websocket(RpcAsgiApp(Api), ['["no-such-message"]'])
    texts = [event.get("text") or "" for event in sent if event["type"] == "websocket.send"]
    assert texts
    assert texts[-1].startswith('["abort",["error"')
    assert sent[-1]["type"] == "websocket.close"


async def run_http(app: RpcAsgiApp, body: bytes) -> tuple[int, bytes]:
    events = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    with anyio.fail_after(5):
        await app({"type": "http", "method": "POST"}, receive, send)
    return sent[0]["status"], sent[1]["body"]


async def test_an_http_batch_is_answered_in_one_response() -> None:
    status, body = await run_http(
        RpcAsgiApp(Api),
        b'["push",["pipeline",0,["square"],[3]]]\n["pull",1]\n'
        b'["push",["pipeline",0,["square"],[5]]]\n["pull",2]',
    )
    assert status == 200
    assert body.split(b"\n") == [b'["resolve",1,9]', b'["resolve",2,25]']


async def test_an_http_batch_over_the_byte_cap_is_refused_with_413() -> None:
    app = RpcAsgiApp(Api, limits=Limits(max_batch_bytes=100))
    status, _ = await run_http(app, b'["pull",1]\n' * 20)
    assert status == 413


async def test_an_http_batch_with_too_many_lines_is_refused_with_413() -> None:
    app = RpcAsgiApp(Api, limits=Limits(max_batch_messages=3))
    status, _ = await run_http(app, b"\n".join([b'["pull",1]'] * 4))
    assert status == 413


async def test_a_get_request_is_refused_with_405() -> None:
    sent: list[dict[str, Any]] = []

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    await RpcAsgiApp(Api)({"type": "http", "method": "GET"}, receive, send)
    assert sent[0]["status"] == 405
