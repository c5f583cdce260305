"""``dotdo.logs``: structured logs that never make the caller wait.

``dotdo.logs.info("signed up", {"user": "ada"})`` records the caller's file, line and function,
queues the entry and returns at once. A shipper task, started on the first log in a running event
loop, sends queued entries with one ``logs.write`` call (and one idempotency key) per batch: when
``batch_size`` entries are waiting, or ``interval`` seconds after the first one. The queue is
bounded: when it is full the oldest entry is dropped and counted in :attr:`Logs.dropped`.
``await dotdo.logs.flush()`` sends everything queued; ``DotDo.close()`` flushes and stops the
shipper.

What is stored: the platform keeps ``level`` (``debug``, ``info``, ``warning``, ``error``,
``critical``), ``message``, ``category``, ``timestamp`` and ``data``. The client adds to ``data``:
``_source`` (``{"file", "line", "function"}``), ``_exception`` (traceback text, when given) and
``_level: "notice"`` for :meth:`Logs.notice`, which is stored as ``info``. Values under keys that
look secret (password, secret, token, api_key, authorization, credential, ...) are replaced by
``"[redacted]"`` at any depth; anything that is not JSON becomes its ``str()``.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import json
import logging
import math
import re
import sys
import time
import traceback
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

from dotdo.errors import ValidationError
from dotdo.namespaces._base import Namespace
from dotdo.namespaces.models import LogEntry

if TYPE_CHECKING:
    from dotdo._client import DotDo

__all__ = ["LEVELS", "Logs"]

logger = logging.getLogger("dotdo")

LEVELS: Final[dict[str, str]] = {
    "debug": "debug",
    "info": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "critical": "critical",
}
"""The level names the client accepts, and the platform level each is stored as."""

REDACTED: Final = "[redacted]"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)|secret|token|api[-_]?key|auth(orization)?$|credential|private[-_]?key"
    r"|session[-_]?id|cookie",
    re.IGNORECASE,
)
_MAX_MESSAGE = 8_192
_MAX_CATEGORY = 128
_MAX_DATA_BYTES = 64 * 1024
_MAX_DEPTH = 16
_WRITE_LIMIT = 1_000  # entries per logs.write, the platform's limit

# LogRecord attributes that are not ``extra=`` values.
_RECORD_FIELDS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def _text(value: str) -> str:
    # Lone surrogates would make the platform refuse the whole batch.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON copy of ``value`` with secret-looking keys redacted."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _text(value)
    if depth >= _MAX_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {
            _text(str(key)): REDACTED if _is_secret_key(str(key)) else _json_safe(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item, depth + 1) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return _text(str(value))


def _caller(frame: FrameType) -> FrameType:
    """The first frame outside dotdo (``dotdo.sync`` calls through a proxy)."""
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("dotdo."):
        frame = frame.f_back
    return frame


def _exception_text(exception: BaseException | bool | None) -> str | None:
    if exception is None or exception is False:
        return None
    if exception is True:
        exception = sys.exc_info()[1]
        if exception is None:
            return None
    return "".join(traceback.format_exception(exception))


def _entry(
    level: str,
    message: object,
    data: dict[str, Any] | None,
    category: str | None,
    *,
    source: dict[str, Any],
    exception: str | None,
    timestamp: float,
) -> dict[str, Any]:
    """A ``logs.write`` entry the platform will accept, whatever the caller passed."""
    payload: dict[str, Any] = {}
    if data is not None:
        safe = _json_safe(data)
        payload.update(safe if isinstance(safe, dict) else {"value": safe})
    payload["_source"] = source
    if level == "notice":
        payload["_level"] = "notice"
    if exception is not None:
        payload["_exception"] = _text(exception)[-_MAX_DATA_BYTES // 2 :]
    size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    if size > _MAX_DATA_BYTES:
        payload = {"_source": source, "_truncated": f"data was {size} bytes of JSON"}
    text = _text(message if isinstance(message, str) else str(message))
    return {
        "level": LEVELS[level],
        "message": text[:_MAX_MESSAGE],
        "category": _text(category)[:_MAX_CATEGORY] if category else None,
        "data": payload,
        "timestamp": timestamp,
    }


class _Shipper:
    """The shipper task of one event loop, and what wakes it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queued = asyncio.Event()  # something is waiting
        self.full = asyncio.Event()  # a whole batch is waiting
        self.lock = asyncio.Lock()  # one batch in flight at a time, so flush() sees it land
        self.task: asyncio.Task[None] | None = None


class Logs(Namespace):
    """The tenant's structured log: ``debug`` … ``critical``, ``flush``, ``query``, ``handler``.

    Args:
        client: the client whose session ships the entries.
        batch_size: entries per ``logs.write`` (at most 1000); a full batch ships at once.
        interval: seconds a partial batch waits for more entries before it ships.
        max_queued: entries kept waiting at most; beyond it the oldest are dropped.
    """

    def __init__(
        self,
        client: DotDo,
        *,
        batch_size: int = 200,
        interval: float = 0.5,
        max_queued: int = 10_000,
    ) -> None:
        super().__init__(client, "logs")
        if not 1 <= batch_size <= _WRITE_LIMIT:
            raise ValidationError(f"batch_size must be between 1 and {_WRITE_LIMIT}")
        if max_queued < 1:
            raise ValidationError("max_queued must be at least 1")
        self._batch_size = batch_size
        self._interval = interval
        self._max_queued = max_queued
        self._queue: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_queued)
        self._dropped = 0
        self._shipper: _Shipper | None = None

    @property
    def dropped(self) -> int:
        """Entries lost so far: pushed out of a full queue, or in a batch the platform refused."""
        return self._dropped

    @property
    def pending(self) -> int:
        """Entries queued and not yet sent."""
        return len(self._queue)

    # -- logging --------------------------------------------------------------------------

    def debug(
        self,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        category: str | None = None,
        exception: BaseException | bool | None = None,
    ) -> None:
        """Queue a ``debug`` entry; returns at once.

        Args:
            message: what happened (at most 8192 characters are kept).
            data: JSON details; values under secret-looking keys are redacted.
            category: a label to filter by (at most 128 characters).
            exception: an exception whose traceback to attach, or True for the one being
                handled.
        """
        self._log("debug", message, data, category, exception)

    def info(
        self,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        category: str | None = None,
        exception: BaseException | bool | None = None,
    ) -> None:
        """Queue an ``info`` entry; returns at once (arguments as :meth:`debug`)."""
        self._log("info", message, data, category, exception)

    def notice(
        self,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        category: str | None = None,
        exception: BaseException | bool | None = None,
    ) -> None:
        """Queue a ``notice``, stored as ``info`` with ``data["_level"] == "notice"``."""
        self._log("notice", message, data, category, exception)

    def warn(
        self,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        category: str | None = None,
        exception: BaseException | bool | None = None,
    ) -> None:
        """Queue a ``warning`` entry; returns at once (arguments as :meth:`debug`)."""
        self._log("warn", message, data, category, exception)

    def error(
        self,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        category: str | None = None,
        exception: BaseException | bool | None = None,
    ) -> None:
        """Queue an ``error`` entry; returns at once (arguments as :meth:`debug`)."""
        self._log("error", message, data, category, exception)

    def critical(
        self,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        category: str | None = None,
        exception: BaseException | bool | None = None,
    ) -> None:
        """Queue a ``critical`` entry; returns at once (arguments as :meth:`debug`)."""
        self._log("critical", message, data, category, exception)

    def _log(
        self,
        level: str,
        message: str,
        data: dict[str, Any] | None,
        category: str | None,
        exception: BaseException | bool | None,
    ) -> None:
        frame = _caller(sys._getframe(2))  # the caller of debug() ... critical()
        code = frame.f_code
        source = {"file": code.co_filename, "line": frame.f_lineno, "function": code.co_name}
        entry = _entry(
            level,
            message,
            data,
            category,
            source=source,
            exception=_exception_text(exception),
            timestamp=time.time(),
        )
        self._enqueue(entry)

    def _enqueue(self, entry: dict[str, Any]) -> None:
        """Queue ``entry`` and wake the shipper; never blocks, never raises."""
        if len(self._queue) >= self._max_queued:
            self._dropped += 1  # the deque's maxlen pushes the oldest out
        self._queue.append(entry)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        shipper = self._shipper
        if loop is not None and (shipper is None or shipper.loop is not loop):
            shipper = self._start(loop)
        if shipper is None:
            return  # no event loop yet: the entry waits for one, or for flush()
        if loop is shipper.loop:
            self._wake(shipper)
        else:  # logged from another thread
            try:
                shipper.loop.call_soon_threadsafe(self._wake, shipper)
            except RuntimeError:  # that loop has closed
                self._shipper = None

    def _wake(self, shipper: _Shipper) -> None:
        shipper.queued.set()
        if len(self._queue) >= self._batch_size:
            shipper.full.set()

    # -- shipping -------------------------------------------------------------------------

    def _start(self, loop: asyncio.AbstractEventLoop) -> _Shipper:
        """Start the shipper in ``loop`` (the previous one belonged to a loop now gone)."""
        shipper = _Shipper(loop)
        shipper.task = loop.create_task(self._ship_forever(shipper), name="dotdo.logs shipper")
        self._shipper = shipper
        return shipper

    async def _ship_forever(self, shipper: _Shipper) -> None:
        while True:
            await shipper.queued.wait()
            if len(self._queue) < self._batch_size:
                with contextlib.suppress(TimeoutError):  # a partial batch waits to fill up
                    await asyncio.wait_for(shipper.full.wait(), self._interval)
            shipper.queued.clear()
            shipper.full.clear()
            try:
                await self._ship_queued(shipper)
            except Exception as exc:
                # The entries are counted in `dropped`; the shipper lives on for the next ones.
                logger.warning("dotdo.logs: a batch of log entries was lost: %r", exc)

    async def _ship_queued(self, shipper: _Shipper) -> None:
        """Send everything queued, one batch at a time; on failure count the batch as dropped."""
        async with shipper.lock:
            while self._queue:
                batch = [
                    self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))
                ]
                try:
                    await self._write("write", batch)
                except BaseException:
                    self._dropped += len(batch)
                    raise

    async def flush(self) -> None:
        """Send every queued entry now and wait until the platform has stored them.

        Raises:
            DotDoError: a batch could not be written (its entries are counted in ``dropped``).
        """
        loop = asyncio.get_running_loop()
        shipper = self._shipper
        if shipper is None or shipper.loop is not loop:
            shipper = self._start(loop)
        await self._ship_queued(shipper)

    async def _stop(self) -> None:
        """Flush (best effort), then cancel and await the shipper; the next log starts another."""
        shipper, self._shipper = self._shipper, None
        if shipper is None or shipper.task is None:
            return
        if shipper.loop is asyncio.get_running_loop():
            try:
                await self._ship_queued(shipper)
            except Exception:  # already counted in `dropped`; closing must go on
                logger.debug("flushing logs on stop failed", exc_info=True)
            shipper.task.cancel()
            await asyncio.wait({shipper.task})  # the task's CancelledError is not ours to raise
        elif not shipper.loop.is_closed():
            shipper.loop.call_soon_threadsafe(shipper.task.cancel)

    # -- reading --------------------------------------------------------------------------

    async def query(
        self,
        level: str | None = None,
        since: float | datetime | None = None,
        until: float | datetime | None = None,
        category: str | None = None,
        limit: int = 100,
    ) -> builtins.list[LogEntry]:
        """Stored entries, newest first.

        Args:
            level: the minimum level (``"warning"`` also returns errors and criticals);
                ``notice`` means ``info`` and ``warn`` means ``warning``.
            since: only entries at or after this time (epoch seconds or an aware datetime).
            until: only entries strictly before this time.
            category: only entries with exactly this category.
            limit: at most this many (1–1000).

        Raises:
            ValidationError: an unknown level (raised before anything is sent) or a bad limit.
        """
        wire_level = None
        if level is not None:
            wire_level = LEVELS.get(level)
            if wire_level is None:
                raise ValidationError(
                    f"unknown log level {level!r}; use one of {', '.join(LEVELS)}"
                )
        rows = await self._call(
            "query",
            wire_level,
            _epoch(since),
            _epoch(until),
            category,
            limit,
            idempotent=True,
        )
        return [LogEntry.model_validate(row) for row in rows]

    def handler(self, level: int = logging.NOTSET) -> logging.Handler:
        """A :class:`logging.Handler` that ships stdlib log records through this namespace.

        The record's logger name becomes the category; its ``extra=`` values (redacted) become
        data, with ``_source`` and the formatted exception. Records of the ``dotdo`` loggers are
        skipped, so the SDK's own reports cannot loop back into the log. ``emit`` never raises.
        """
        return _ShippingHandler(self, level)

    def __repr__(self) -> str:
        return f"<dotdo.logs pending={self.pending} dropped={self._dropped}>"


def _epoch(moment: float | datetime | None) -> float | None:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return None if moment is None else float(moment)


def _level_of(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class _ShippingHandler(logging.Handler):
    """Ships stdlib records through :class:`Logs`; see :meth:`Logs.handler`."""

    def __init__(self, logs: Logs, level: int) -> None:
        super().__init__(level)
        self._logs = logs

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "dotdo" or record.name.startswith("dotdo."):
            return
        try:
            extra = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
            exception = None
            if record.exc_info and record.exc_info[1] is not None:
                exception = "".join(traceback.format_exception(*record.exc_info))
            elif record.exc_text:
                exception = record.exc_text
            source = {"file": record.pathname, "line": record.lineno, "function": record.funcName}
            entry = _entry(
                _level_of(record.levelno),
                record.getMessage(),
                extra or None,
                record.name,
                source=source,
                exception=exception,
                timestamp=record.created,
            )
            self._logs._enqueue(entry)
        except Exception:
            self.handleError(record)
