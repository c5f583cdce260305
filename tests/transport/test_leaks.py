"""Nothing leaks over many calls: after a long mixed workload every table is back where it began.

CI runs 10,000 calls; ``DOTDO_LONG_TESTS=1`` runs 100,000.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from dotdo.transport import RpcStub, memory_pair
from dotdo.transport.channel import SessionDriver

from .targets import Api

pytestmark = pytest.mark.anyio

LONG = os.environ.get("DOTDO_LONG_TESTS") == "1"
CALLS = 100_000 if LONG else 10_000
_CONCURRENT = 50  # operations in flight at once
_START = {"imports": 1, "exports": 1}


@dataclass
class Pair:
    client: SessionDriver
    server: SessionDriver
    server_main: Api
    api: RpcStub


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    server_main = Api()
    client, server = memory_pair(None, server_main)
    yield Pair(client, server, server_main, client.main_stub())
    await client.close()
    await server.close()


Operation = Callable[[RpcStub, int], Awaitable[int]]


async def _plain(api: RpcStub, i: int) -> int:
    assert await api.square(i) == i * i
    return 1


async def _pipelined(api: RpcStub, i: int) -> int:
    counter = api.make_counter(i)
    assert await counter.increment(1) == i + 1
    return 2


async def _mapped(api: RpcStub, i: int) -> int:
    assert await api.fibonacci(5).map(lambda x: api.add(x, i)) == [i, i + 1, i + 1, i + 2, i + 3]
    return 2


async def _capability(api: RpcStub, i: int) -> int:
    counter = await api.make_counter(i)
    assert await api.increment_counter(counter, 2) == i + 2
    counter.dispose()
    return 2


async def _callback(api: RpcStub, i: int) -> int:
    assert await api.call_function(lambda x: x + 1, i) == i + 1
    return 2  # the call, and the server's call back to us


_MIX: list[Operation] = [_plain, _pipelined, _mapped, _capability, _callback]


async def _run_mixed_calls(api: RpcStub, calls: int, server_main: Api | None = None) -> None:
    """Make ``calls`` calls; with ``server_main``, drop its own records as it goes."""
    made = 0
    start = 0
    while made < calls:
        batch = [_MIX[(start + k) % len(_MIX)](api, start + k) for k in range(_CONCURRENT)]
        made += sum(await asyncio.gather(*batch))
        start += _CONCURRENT
        if server_main is not None:
            server_main.made.clear()
            server_main.squared.clear()


async def _quiesce() -> None:
    """Collect stubs kept only by cycles, then let their releases cross and be handled."""
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0.01)


async def test_tables_return_to_their_start_after_many_mixed_calls(pair: Pair) -> None:
    await _run_mixed_calls(pair.api, CALLS, pair.server_main)

    await _quiesce()

    assert (pair.client.stats(), pair.server.stats()) == (_START, _START)


async def test_no_python_objects_accumulate_over_many_calls(pair: Pair) -> None:
    await _run_mixed_calls(pair.api, 1_000, pair.server_main)
    await _quiesce()
    before = len(gc.get_objects())

    await _run_mixed_calls(pair.api, 5_000, pair.server_main)
    await _quiesce()

    assert len(gc.get_objects()) - before < 500


async def test_every_target_the_server_made_is_disposed(pair: Pair) -> None:
    await _run_mixed_calls(pair.api, 1_000)

    await _quiesce()

    made = pair.server_main.made
    assert made
    assert [counter for counter in made if not counter.disposed] == []


async def test_a_stub_still_held_shows_in_the_tables(pair: Pair) -> None:
    await _run_mixed_calls(pair.api, 100)
    held = await pair.api.make_counter(0)

    await _quiesce()

    assert pair.server.stats()["exports"] == 2
    assert pair.client.stats()["imports"] == 2
    held.dispose()
