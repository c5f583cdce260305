"""dotdo.logs against the in-process platform: queueing, batching, redaction, the stdlib handler."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import pytest

from dotdo._client import DotDo
from dotdo.errors import ValidationError
from dotdo.namespaces.logs import REDACTED, Logs
from dotdo.namespaces.models import LogEntry
from dotdo.server import Platform

pytestmark = pytest.mark.anyio


async def stored(client: DotDo, category: str) -> list[LogEntry]:
    """The entries of ``category``, oldest first."""
    return list(reversed(await client.logs.query(category=category, limit=1000)))


async def eventually(check: Callable[[], Any], seconds: float = 3.0) -> None:
    """Poll ``check`` (the platform cannot signal us) until it is truthy."""
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"not true within {seconds} s")


@pytest.fixture
def writes(client: DotDo, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every ``logs.write`` batch the client sends."""
    sizes: list[int] = []
    real = client._call

    async def counting(path: Any, args: Any, **options: Any) -> Any:
        if tuple(path) == ("logs", "write"):
            sizes.append(len(args[0]))
        return await real(path, args, **options)

    monkeypatch.setattr(client, "_call", counting)
    return sizes


@pytest.fixture
async def quick(client: DotDo) -> AsyncIterator[Logs]:
    """Logs that ship a partial batch after 50 ms instead of 500."""
    logs = Logs(client, interval=0.05)
    yield logs
    await logs._stop()


async def test_a_log_call_returns_before_anything_is_sent(
    client: DotDo, name: str, writes: list[int]
) -> None:
    client.logs.info("hello", category=name)
    assert (writes, client.logs.pending) == ([], 1)


async def test_an_entry_records_the_callers_file_line_and_function(
    client: DotDo, name: str
) -> None:
    client.logs.info("hello", {"user": "ada"}, category=name)
    line = _line() - 1
    await client.logs.flush()

    [entry] = await stored(client, name)
    assert (entry.level, entry.message, entry.category) == ("info", "hello", name)
    assert entry.data == {
        "user": "ada",
        "_source": {
            "file": __file__,
            "line": line,
            "function": "test_an_entry_records_the_callers_file_line_and_function",
        },
    }


def _line() -> int:
    import sys

    return sys._getframe(1).f_lineno


async def test_through_dotdo_sync_the_source_is_still_the_caller(client: DotDo, name: str) -> None:
    sync = client.sync
    try:
        sync.logs.info("blocking", category=name)
    finally:
        sync._portal.stop()  # nothing ran on the twin's loop: just end its thread
    await client.logs.flush()

    [entry] = await stored(client, name)
    assert entry.data is not None
    assert entry.data["_source"]["function"] == (
        "test_through_dotdo_sync_the_source_is_still_the_caller"
    )


async def test_each_method_stores_its_level(client: DotDo, name: str) -> None:
    logs = client.logs
    for log in (logs.debug, logs.info, logs.notice, logs.warn, logs.error, logs.critical):
        log(log.__name__, category=name)
    await logs.flush()

    entries = await stored(client, name)
    assert [(e.message, e.level) for e in entries] == [
        ("debug", "debug"),
        ("info", "info"),
        ("notice", "info"),
        ("warn", "warning"),
        ("error", "error"),
        ("critical", "critical"),
    ]
    assert entries[2].data is not None
    assert entries[2].data["_level"] == "notice"


async def test_many_log_calls_are_sent_in_few_batches(
    client: DotDo, name: str, writes: list[int]
) -> None:
    for index in range(450):
        client.logs.info(f"entry {index}", category=name)
    await client.logs.flush()

    assert writes == [200, 200, 50]
    entries = await stored(client, name)
    assert [e.message for e in entries] == [f"entry {index}" for index in range(450)]


async def test_a_partial_batch_ships_in_the_background_after_the_interval(
    client: DotDo, quick: Logs, name: str
) -> None:
    quick.info("later", category=name)
    await eventually(lambda: stored(client, name))
    assert quick.pending == 0


async def test_a_full_batch_ships_without_waiting_for_the_interval(
    client: DotDo, name: str, writes: list[int]
) -> None:
    logs = Logs(client, batch_size=5, interval=60)
    try:
        for index in range(5):
            logs.info(str(index), category=name)

        async def sent() -> bool:
            return writes == [5]

        await eventually(sent)
    finally:
        await logs._stop()


async def test_flush_sends_everything_queued(client: DotDo, name: str) -> None:
    for index in range(3):
        client.logs.warn(str(index), category=name)
    await client.logs.flush()
    assert client.logs.pending == 0
    assert len(await stored(client, name)) == 3


async def test_a_full_queue_drops_the_oldest_entries_and_counts_them(
    client: DotDo, name: str
) -> None:
    logs = Logs(client, max_queued=3)
    try:
        for index in range(5):
            logs.info(str(index), category=name)
        assert (logs.pending, logs.dropped) == (3, 2)
        await logs.flush()
    finally:
        await logs._stop()
    assert [e.message for e in await stored(client, name)] == ["2", "3", "4"]


async def test_secret_looking_keys_are_redacted_at_any_depth(client: DotDo, name: str) -> None:
    client.logs.info(
        "signed in",
        {
            "user": "ada",
            "password": "hunter22",
            "headers": {"Authorization": "Bearer abc", "accept": "json"},
            "keys": [{"api_key": "dotdo_sk_x", "refresh_token": "t", "client_secret": "s"}],
        },
        category=name,
    )
    await client.logs.flush()

    [entry] = await stored(client, name)
    assert entry.data is not None
    assert {k: v for k, v in entry.data.items() if k != "_source"} == {
        "user": "ada",
        "password": REDACTED,
        "headers": {"Authorization": REDACTED, "accept": "json"},
        "keys": [{"api_key": REDACTED, "refresh_token": REDACTED, "client_secret": REDACTED}],
    }


async def test_values_that_are_not_json_are_stored_as_text(client: DotDo, name: str) -> None:
    moment = datetime(2030, 1, 2, tzinfo=UTC)
    client.logs.info(
        "odd \ud800 text", {"when": moment, "ids": (1, 2), "nan": float("nan")}, category=name
    )
    await client.logs.flush()

    [entry] = await stored(client, name)
    assert entry.message == "odd ? text"
    assert entry.data is not None
    assert (entry.data["when"], entry.data["ids"], entry.data["nan"]) == (
        moment.isoformat(),
        [1, 2],
        "nan",
    )


async def test_oversized_data_is_replaced_by_a_note(client: DotDo, name: str) -> None:
    client.logs.info("big", {"blob": "x" * 70_000}, category=name)
    await client.logs.flush()

    [entry] = await stored(client, name)
    assert entry.data is not None
    assert "blob" not in entry.data
    assert "_truncated" in entry.data


async def test_an_exception_is_stored_as_traceback_text(client: DotDo, name: str) -> None:
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        client.logs.error("failed", category=name, exception=exc)
        client.logs.error("failed again", category=name, exception=True)
    await client.logs.flush()

    for entry in await stored(client, name):
        assert entry.data is not None
        assert "ValueError: bad input" in entry.data["_exception"]


async def test_a_log_from_another_thread_is_shipped(client: DotDo, quick: Logs, name: str) -> None:
    quick.info("from the loop", category=name)  # starts the shipper in this loop
    await anyio.to_thread.run_sync(lambda: quick.info("from a thread", category=name))

    async def both() -> bool:
        return len(await stored(client, name)) == 2

    await eventually(both)


async def test_close_flushes_queued_logs(client: DotDo, platform: Platform, name: str) -> None:
    other = DotDo()
    other.use_platform(platform)
    await other.auth.whoami()
    other.logs.info("last words", category=name)
    await other.close()  # flushes; leaves the shared platform open

    assert [e.message for e in await stored(client, name)] == ["last words"]


# -- query ----------------------------------------------------------------------------------


async def test_query_filters_by_minimum_level(client: DotDo, name: str) -> None:
    client.logs.info("info", category=name)
    client.logs.warn("warn", category=name)
    client.logs.critical("critical", category=name)
    await client.logs.flush()

    found = await client.logs.query(level="warn", category=name)

    assert [e.message for e in found] == ["critical", "warn"]


async def test_query_filters_by_time(client: DotDo, name: str) -> None:
    client.logs.info("before", category=name)
    await client.logs.flush()
    middle = time.time()
    await anyio.sleep(0.01)
    client.logs.info("after", category=name)
    await client.logs.flush()

    since = await client.logs.query(category=name, since=middle)
    until = await client.logs.query(category=name, until=datetime.fromtimestamp(middle, UTC))

    assert ([e.message for e in since], [e.message for e in until]) == (["after"], ["before"])


async def test_query_limits_the_number_of_entries(client: DotDo, name: str) -> None:
    for index in range(5):
        client.logs.info(str(index), category=name)
    await client.logs.flush()
    assert [e.message for e in await client.logs.query(category=name, limit=2)] == ["4", "3"]


async def test_query_refuses_an_unknown_level_before_any_io() -> None:
    logs = Logs(object())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown log level"):
        await logs.query(level="loud")


# -- the stdlib handler ---------------------------------------------------------------------


@pytest.fixture
def stdlib_logger(client: DotDo, name: str) -> Any:
    logger = logging.getLogger(f"app.{name}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = client.logs.handler()
    logger.addHandler(handler)
    yield logger
    logger.removeHandler(handler)


async def test_the_handler_ships_stdlib_records(
    client: DotDo, stdlib_logger: logging.Logger
) -> None:
    stdlib_logger.warning("disk %d%% full", 91, extra={"disk": "/", "token": "abc"})
    await client.logs.flush()

    [entry] = await stored(client, stdlib_logger.name)
    assert (entry.level, entry.message) == ("warning", "disk 91% full")
    assert entry.data is not None
    assert (entry.data["disk"], entry.data["token"]) == ("/", REDACTED)
    assert entry.data["_source"]["function"] == "test_the_handler_ships_stdlib_records"


async def test_the_handler_includes_the_exception_text(
    client: DotDo, stdlib_logger: logging.Logger
) -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        stdlib_logger.exception("lookup failed")
    await client.logs.flush()

    [entry] = await stored(client, stdlib_logger.name)
    assert entry.level == "error"
    assert entry.data is not None
    assert "KeyError: 'missing'" in entry.data["_exception"]


async def test_the_handler_respects_its_level(client: DotDo, name: str) -> None:
    handler = client.logs.handler(logging.ERROR)
    logger = logging.getLogger(f"app.{name}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("ignored")
        logger.error("kept")
    finally:
        logger.removeHandler(handler)
    await client.logs.flush()
    assert [e.message for e in await stored(client, logger.name)] == ["kept"]


async def test_the_handler_skips_the_sdks_own_loggers(client: DotDo) -> None:
    handler = client.logs.handler()
    handler.handle(logging.LogRecord("dotdo.logs", logging.ERROR, __file__, 1, "x", (), None))
    assert client.logs.pending == 0


async def test_the_handler_never_raises(
    client: DotDo, stdlib_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging, "raiseExceptions", False)
    stdlib_logger.info("%d apples", "not a number")  # formatting fails inside emit
