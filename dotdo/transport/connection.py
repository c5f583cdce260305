"""`connect()`: open a Cap'n Web session to a URL and get the peer's main object as a stub."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal

from dotdo.errors import ValidationError
from dotdo.transport.channel import SessionDriver
from dotdo.transport.http_batch import HttpBatchClient
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.stub import RpcStub

__all__ = ["Connection", "connect"]

TransportName = Literal["websocket", "http-batch"]


class Connection:
    """An open (or about to be opened) session; use it with ``async with``.

    ``async with connect(url) as api:`` yields the peer's main stub and closes the session on exit.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: TransportName | None = None,
        local_main: Any = None,
        limits: Limits = DEFAULT_LIMITS,
        headers: Mapping[str, str] | None = None,
        open_timeout: float | None = 10.0,
    ) -> None:
        self.url, self.transport = _resolve(url, transport)
        self._local_main = local_main
        self._limits = limits
        self._headers = headers
        self._open_timeout = open_timeout
        self._driver: SessionDriver | None = None
        self._batch: HttpBatchClient | None = None
        self._stub: RpcStub | None = None

    async def open(self) -> RpcStub:
        """Connect (once) and return the peer's main stub."""
        if self._stub is not None:
            return self._stub
        if self.transport == "websocket":
            from dotdo.transport.websocket import open_websocket_session

            self._driver = await open_websocket_session(
                self.url,
                local_main=self._local_main,
                limits=self._limits,
                headers=self._headers,
                open_timeout=self._open_timeout,
            )
            self._stub = self._driver.main_stub()
        else:
            self._batch = HttpBatchClient(self.url, limits=self._limits, headers=self._headers)
            self._stub = self._batch.main_stub()
        return self._stub

    @property
    def is_open(self) -> bool:
        """True until the session ends (always True for HTTP batch, which reopens per batch)."""
        if self._driver is not None:
            return self._driver.session.is_open
        return self._batch is not None

    def on_broken(self, callback: Callable[[BaseException], None]) -> None:
        """Call ``callback(error)`` once if the WebSocket session ends abnormally."""
        if self._driver is not None:
            self._driver.session.on_broken(callback)

    def stats(self) -> dict[str, int]:
        """Import and export table sizes of the WebSocket session (for leak checks)."""
        if self._driver is None:
            return {"imports": 0, "exports": 0}
        return self._driver.session.stats()

    async def close(self) -> None:
        """End the session; pending calls fail with `DotDoConnectionError`."""
        if self._driver is not None:
            await self._driver.close()
        if self._batch is not None:
            await self._batch.close()
        self._stub = None

    async def __aenter__(self) -> RpcStub:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


def connect(
    url: str,
    *,
    transport: TransportName | None = None,
    local_main: Any = None,
    limits: Limits = DEFAULT_LIMITS,
    headers: Mapping[str, str] | None = None,
    open_timeout: float | None = 10.0,
) -> Connection:
    """Prepare a connection to a Cap'n Web endpoint.

    Args:
        url: ``ws://``/``wss://`` (WebSocket) or ``http://``/``https://`` (HTTP batch, unless
            ``transport="websocket"``).
        transport: force ``"websocket"`` or ``"http-batch"``.
        local_main: an object the peer may call back as its import 0.
        limits: receive-side limits.
        headers: extra HTTP headers for the handshake or each batch.
        open_timeout: seconds allowed to open the WebSocket.

    Example::

        async with connect("ws://127.0.0.1:8787/rpc") as api:
            assert await api.square(5) == 25
    """
    return Connection(
        url,
        transport=transport,
        local_main=local_main,
        limits=limits,
        headers=headers,
        open_timeout=open_timeout,
    )


def _resolve(url: str, transport: TransportName | None) -> tuple[str, TransportName]:
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if not rest or scheme not in ("ws", "wss", "http", "https"):
        raise ValidationError(
            f"a Cap'n Web URL must start with ws://, wss://, http:// or https://, got {url!r}"
        )
    if transport not in (None, "websocket", "http-batch"):
        raise ValidationError(f"transport must be 'websocket' or 'http-batch', got {transport!r}")
    if transport is None:
        transport = "websocket" if scheme in ("ws", "wss") else "http-batch"
    if transport == "websocket" and scheme in ("http", "https"):
        url = ("wss" if scheme == "https" else "ws") + "://" + rest
    if transport == "http-batch" and scheme in ("ws", "wss"):
        url = ("https" if scheme == "wss" else "http") + "://" + rest
    return url, transport
