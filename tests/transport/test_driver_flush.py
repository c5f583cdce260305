"""How a callback-channel driver batches writes: what sequential calls cost in writes and turns.

The peer is scripted by hand (it answers each pull on the next loop turn, as a socket would), so
the counts are exact: they are what the WebSocket client does per call, minus the socket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from dotdo.errors import DotDoConnectionError
from dotdo.transport.channel import SessionDriver
from dotdo.transport.session import Session

pytestmark = pytest.mark.anyio

CALLS = 200


class ScriptedPeer:
    """Answers every pull of a ``square`` call; records each write the driver makes."""

    def __init__(self) -> None:
        self.writes: list[list[Any]] = []
        self.driver: SessionDriver | None = None
        self._arguments: dict[int, int] = {}
        self._next_push = 1
        self.read_sizes: list[int] = []
        """How many answers each "read" held (the answers to one write arrive as one read)."""
        self.delay = 0.0
        """Seconds before an answer arrives; 0 answers on the next loop turn."""

    def write(self, messages: list[str]) -> None:
        decoded = [json.loads(message) for message in messages]
        self.writes.append(decoded)
        loop = asyncio.get_running_loop()
        answers: list[str] = []
        for message in decoded:
            if message[0] == "push":
                self._arguments[self._next_push] = message[1][3][0]
                self._next_push += 1
            elif message[0] == "pull":
                value = self._arguments.pop(message[1]) ** 2
                answers.append(json.dumps(["resolve", message[1], value]))
        if answers:
            assert self.driver is not None
            self.read_sizes.append(len(answers))
            if self.delay:
                loop.call_later(self.delay, self.driver.deliver_all, answers)
            else:
                loop.call_soon(self.driver.deliver_all, answers)


async def make_driver(
    write: Callable[[list[str]], None] | None = None,
) -> tuple[SessionDriver, ScriptedPeer]:
    """A driver whose writes go to a scripted peer (or to ``write``, if given)."""

    async def close() -> None:
        return None

    peer = ScriptedPeer()
    driver = SessionDriver(Session(None), write_now=write or peer.write, close_channel=close)
    peer.driver = driver
    return driver, peer


async def test_sequential_calls_are_written_as_the_reference_client_writes_them() -> None:
    # The push as the call is made, the pull as it is awaited, and the release as soon as the
    # answer is read: the peer works on each while this side gets to the next.
    driver, peer = await make_driver()
    api = driver.main_stub()
    for number in range(CALLS):
        assert await api.square(number) == number * number
    kinds = [[message[0] for message in write] for write in peer.writes]
    assert kinds == [["push"], ["pull"], ["release"]] * CALLS
    await driver.close()


async def test_a_burst_of_calls_in_one_turn_costs_a_bounded_number_of_writes() -> None:
    # The first call of a turn is written at once; the rest of the turn's calls go together.
    driver, peer = await make_driver()
    api = driver.main_stub()
    promises = [api.square(number) for number in range(50)]
    assert await asyncio.gather(*promises) == [number * number for number in range(50)]
    pushes = [write for write in peer.writes if write[0][0] == "push"]
    assert len(pushes) == 2
    assert sum(len(write) for write in pushes) == 50
    await driver.close()


async def test_the_releases_of_one_read_leave_in_one_write() -> None:
    driver, peer = await make_driver()
    api = driver.main_stub()
    squares = await asyncio.gather(*(api.square(number) for number in range(10)))
    assert squares == [number * number for number in range(10)]
    # Each read's releases in one write (which may also carry pulls still waiting to leave).
    releases = [[message[0] for message in write].count("release") for write in peer.writes]
    assert [count for count in releases if count] == peer.read_sizes
    assert sum(peer.read_sizes) == 10
    await driver.close()


class TurnCountingLoop(asyncio.SelectorEventLoop):
    """Counts event-loop turns (a test-only peek at a private method)."""

    turns = 0

    def _run_once(self) -> None:
        self.turns += 1
        super()._run_once()  # type: ignore[misc]


def test_a_sequential_call_costs_two_loop_turns() -> None:
    # The answer arrives from a timer, so the loop sleeps in between as it would on a socket.
    # One turn handles the answer and wakes the caller; in the next, the caller runs and its next
    # call is written. A flush left for a turn of its own would make it three.
    async def calls() -> int:
        driver, peer = await make_driver()
        peer.delay = 0.0005
        api = driver.main_stub()
        await api.square(1)
        loop = asyncio.get_running_loop()
        assert isinstance(loop, TurnCountingLoop)
        start = loop.turns
        for number in range(CALLS):
            await api.square(number)
        turns = loop.turns - start
        await driver.close()
        return turns

    with asyncio.Runner(loop_factory=TurnCountingLoop) as runner:
        # A guard against a hang (the answers come from timers), not a timing assertion.
        turns = runner.run(asyncio.wait_for(calls(), timeout=30))
    assert turns <= 2 * CALLS + 5


async def test_a_result_awaited_without_a_reference_is_kept_until_it_arrives() -> None:
    # `await api.square(n)` leaves nothing holding the promise but the await itself. Were it let
    # go, its import would be released before the answer came, and the await would never end.
    driver, peer = await make_driver()
    peer.delay = 0.002
    api = driver.main_stub()
    with anyio.fail_after(30):  # a guard against a hang, not a timing assertion
        for number in range(20):
            assert await api.square(number) == number * number
    kinds = [[message[0] for message in write] for write in peer.writes]
    assert kinds == [["push"], ["pull"], ["release"]] * 20
    await driver.close()


async def test_a_call_nobody_awaits_is_still_sent() -> None:
    driver, peer = await make_driver()
    api = driver.main_stub()
    promise = api.square(7)  # the fallback flush, not a waiting caller, must send this push
    await asyncio.sleep(0)
    assert [message[0] for message in peer.writes[0]] == ["push"]
    assert await promise == 49
    await driver.close()


async def test_a_call_whose_write_fails_fails_with_a_connection_error() -> None:
    def broken(messages: list[str]) -> None:
        raise ConnectionError("the socket is gone")

    driver, _peer = await make_driver(broken)
    api = driver.main_stub()
    with pytest.raises(DotDoConnectionError, match="sending failed"):
        await asyncio.wait_for(api.square(3), timeout=10)  # a guard against a hang only
    await driver.close()
