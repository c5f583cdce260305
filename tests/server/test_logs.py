"""api.logs: structured entries written in batches and queried."""

from __future__ import annotations

import pytest

from dotdo.errors import ValidationError
from dotdo.server import Api
from tests.server.conftest import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
async def logged(api: Api) -> Api:
    await api.logs.write(
        [
            {"level": "debug", "message": "d", "timestamp": 100.0},
            {"level": "info", "message": "signed in", "category": "auth", "timestamp": 200.0},
            {"level": "warning", "message": "slow", "category": "db", "timestamp": 300.0},
            {"level": "error", "message": "boom", "data": {"code": 7}, "timestamp": 400.0},
        ]
    )
    return api


async def messages(api: Api, *args: object) -> list[str]:
    return [entry["message"] for entry in await api.logs.query(*args)]


async def test_write_reports_how_many_entries_were_written(api: Api) -> None:
    assert await api.logs.write([{"level": "info", "message": "a"}] * 3) == {"written": 3}


async def test_query_returns_entries_newest_first(logged: Api) -> None:
    assert await messages(logged) == ["boom", "slow", "signed in", "d"]


async def test_query_returns_the_stored_fields(logged: Api) -> None:
    [entry] = await logged.logs.query("error")
    assert entry == {
        "id": 4,
        "timestamp": 400.0,
        "level": "error",
        "category": None,
        "message": "boom",
        "data": {"code": 7},
    }


async def test_level_is_a_minimum(logged: Api) -> None:
    assert await messages(logged, "warning") == ["boom", "slow"]


async def test_since_is_inclusive_and_until_exclusive(logged: Api) -> None:
    assert await messages(logged, None, 200.0, 400.0) == ["slow", "signed in"]


async def test_category_filters_exactly(logged: Api) -> None:
    assert await messages(logged, None, None, None, "db") == ["slow"]


async def test_limit_keeps_the_newest(logged: Api) -> None:
    assert await messages(logged, None, None, None, None, 2) == ["boom", "slow"]


async def test_an_entry_without_timestamp_gets_the_platform_clock(
    api: Api, clock: FakeClock
) -> None:
    await api.logs.write([{"level": "info", "message": "now"}])
    [entry] = await api.logs.query()
    assert entry["timestamp"] == clock.now


async def test_an_unknown_level_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match=r"entries\[0\]\.level"):
        await api.logs.write([{"level": "loud", "message": "x"}])


async def test_an_unknown_entry_field_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match=r"entries\[0\]\.extra"):
        await api.logs.write([{"level": "info", "message": "x", "extra": 1}])


async def test_an_empty_batch_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="entries"):
        await api.logs.write([])


async def test_a_limit_over_1000_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="limit"):
        await api.logs.query(None, None, None, None, 1001)
