"""The platform over the network: a Starlette app, and ``serve()`` to run it with uvicorn.

    platform = Platform(data_dir)
    await serve(platform, "127.0.0.1", 0, ready=lambda port: print("LISTENING", port))

``/rpc`` speaks Cap'n Web over WebSocket and HTTP batch (POST) on the same path; each session
gets a fresh ``Root`` from :meth:`Platform.main`. ``GET /health`` answers JSON without a session.
The caller owns the platform: neither the app nor ``serve`` closes it.
"""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from dotdo.errors import ServiceError
from dotdo.server.errors import redact_error
from dotdo.server.platform import Platform
from dotdo.transport.asgi import RpcAsgiApp
from dotdo.transport.limits import DEFAULT_LIMITS, Limits

__all__ = ["RPC_PATH", "bind_socket", "create_app", "endpoint_url", "serve"]

RPC_PATH = "/rpc"
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""uvicorn's WebSocket frame cap; at least ``Limits.max_message_size`` so the session decides."""
SHUTDOWN_GRACE_SECONDS = 3
"""How long a signal waits for open connections before their tasks are cancelled."""

Ready = Callable[[int], Awaitable[None] | None]


def create_app(platform: Platform, *, limits: Limits | None = None) -> Starlette:
    """The ASGI app serving ``platform``: Cap'n Web at ``/rpc``, JSON at ``GET /health``.

    Args:
        platform: the platform whose ``main()`` each session is given.
        limits: receive-side limits for every session (default: ``DEFAULT_LIMITS``).
    """
    rpc = RpcAsgiApp(platform.main, limits=limits or DEFAULT_LIMITS, redact_error=redact_error)

    async def health(request: Request) -> JSONResponse:
        try:
            answer = await platform.main().health()
        except ServiceError as exc:
            return JSONResponse({"status": "unavailable", "error": exc.message}, status_code=503)
        return JSONResponse(answer)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            # An ASGI app as the endpoint (not a function) is called as is, for every method.
            Route(RPC_PATH, rpc),
            WebSocketRoute(RPC_PATH, rpc),
        ]
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0 picks a free one).

    Raises:
        OSError: the address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if _is_ipv6(host) else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except BaseException:
        listener.close()
        raise
    listener.setblocking(False)
    return listener


def endpoint_url(host: str, port: int) -> str:
    """The WebSocket URL a client on this machine uses to reach a server bound to ``host``.

    A wildcard address (``0.0.0.0``, ``::``) is reached through loopback.
    """
    if host in ("0.0.0.0", ""):  # noqa: S104 - mapping the wildcard to loopback, not binding it
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if _is_ipv6(host):
        host = f"[{host}]"
    return f"ws://{host}:{port}{RPC_PATH}"


async def serve(
    platform: Platform,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Ready | None = None,
    limits: Limits | None = None,
    handle_signals: bool = True,
) -> None:
    """Serve ``platform`` with uvicorn until SIGINT/SIGTERM (or until cancelled).

    Binds the socket itself, so ``port=0`` works and the real port is known: ``ready(port)`` is
    called (and awaited, if it returns an awaitable) once the server accepts connections. On a
    signal, open connections get ``SHUTDOWN_GRACE_SECONDS`` to finish and the coroutine returns
    normally; a second Ctrl-C stops at once. Signals are caught only in the main thread.

    Raises:
        OSError: the address cannot be bound.
    """
    listener = bind_socket(host, port)
    bound_port: int = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(platform, limits=limits),
        log_level="warning",
        # The settings the transport benchmarks use (tests/interop/serve.py): per-message
        # deflate cost 3-4x in throughput there, for the small messages RPC sends.
        ws="websockets-sansio",
        ws_max_size=MAX_MESSAGE_BYTES,
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        lifespan="off",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )

    async def started() -> None:
        if ready is not None:
            outcome = ready(bound_port)
            if inspect.isawaitable(outcome):
                await outcome

    server = _Server(config, on_started=started, handle_signals=handle_signals)
    try:
        await server.serve(sockets=[listener])
    finally:
        for running in getattr(server, "servers", []):
            running.close()
        listener.close()


class _Server(uvicorn.Server):
    """uvicorn's server, announcing when it is up, and returning (not re-raising) on a signal.

    uvicorn re-raises a caught SIGINT/SIGTERM after its graceful shutdown, which would turn a
    clean Ctrl-C into a KeyboardInterrupt (or a death by SIGTERM) for whoever called ``serve``.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        on_started: Callable[[], Awaitable[None]],
        handle_signals: bool,
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._handle_signals = handle_signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            await self._on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self._handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        stopping = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stopping}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False
