"""A loopback TCP proxy under test control, put between the SDK and the local platform.

Like Toxiproxy, in-process and on asyncio streams. Every fault is a method:

- :meth:`FaultProxy.delay`: hold every chunk this long before forwarding it;
- :meth:`FaultProxy.drop`: stop forwarding on every live connection, for good; they stay open and
  silent (a dead NAT entry, a half-open TCP connection); new connections work;
- :meth:`FaultProxy.reset`: close every live connection abruptly, with a TCP RST;
- :meth:`FaultProxy.blackhole`: accept new connections but never connect them or answer;
- :meth:`FaultProxy.refuse` / :meth:`FaultProxy.listen`: stop and resume listening (refused);
- :meth:`FaultProxy.heal`: forward normally again.

Counters say what the SDK did: ``accepts`` (connections the SDK opened through the proxy) and
``upstream_attempts`` (connections the proxy tried to open to the platform). A connection whose
upstream cannot be reached (the platform is down) is closed at once, as a refused port would be.

The proxy owns one task per direction per connection; :meth:`FaultProxy.close` cancels and
awaits all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

__all__ = ["FaultProxy"]

_CHUNK = 65536


@dataclass(eq=False)
class _Link:
    """One proxied connection: the SDK's side and the platform's side."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    dropping: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``upstream_host:upstream_port``, with faults on demand.

    Args:
        upstream_port: the platform's port (change it later with :meth:`retarget`).
        upstream_host: the platform's address.
        port: the port to listen on; 0 picks a free one, kept across :meth:`refuse`/:meth:`listen`.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = port
        self.accepts = 0
        self.upstream_attempts = 0
        self.resets = 0
        self._delay = 0.0
        self._blackholing = False
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The WebSocket endpoint the SDK should use."""
        return f"ws://127.0.0.1:{self.port}/rpc"

    @property
    def live_connections(self) -> int:
        """Connections currently open through the proxy."""
        return len(self._links)

    async def __aenter__(self) -> FaultProxy:
        await self.listen()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- faults ---------------------------------------------------------------------------

    async def listen(self) -> None:
        """Accept connections (again) on the proxy's port."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """Stop listening: new connections are refused; open ones are left alone."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    def delay(self, seconds: float) -> None:
        """Hold every chunk ``seconds`` before forwarding it (0 to stop delaying)."""
        self._delay = seconds

    def drop(self) -> int:
        """Stop forwarding on every live connection; they stay open and lose all they are sent.

        Returns:
            how many connections went silent.
        """
        for link in self._links:
            link.dropping = True
        return len(self._links)

    def blackhole(self) -> None:
        """Accept new connections but never connect them upstream or answer them."""
        self._blackholing = True

    def heal(self) -> None:
        """Forward normally again (no delay, no drop, no blackhole)."""
        self._delay = 0.0
        self._blackholing = False

    def reset(self) -> int:
        """Close every live connection with a TCP RST, both sides; returns how many."""
        links = list(self._links)
        for link in links:
            self._abort(link)
        self.resets += len(links)
        return len(links)

    def retarget(self, upstream_port: int) -> None:
        """Send new connections to another platform port."""
        self.upstream_port = upstream_port

    async def close(self) -> None:
        """Stop listening, reset every connection and await every task the proxy started."""
        await self.refuse()
        self.reset()
        tasks = list(self._tasks)
        if tasks:
            # Reset connections end their tasks; cancel only what is still stuck (connecting).
            _, stuck = await asyncio.wait(tasks, timeout=1.0)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    # -- plumbing -------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepts += 1
        link = _Link(writer)
        self._links.add(link)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(link, reader)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            self._links.discard(link)
            self._abort(link)

    async def _serve(self, link: _Link, reader: asyncio.StreamReader) -> None:
        if self._blackholing:
            while await reader.read(_CHUNK):  # swallow everything, answer nothing
                pass
            return
        self.upstream_attempts += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            return  # the platform is down: close the SDK's side, as a refused port would
        link.upstream = up_writer
        to_upstream = asyncio.create_task(self._pump(link, reader, up_writer))
        to_client = asyncio.create_task(self._pump(link, up_reader, link.client))
        link.tasks = [to_upstream, to_client]
        self._tasks.update(link.tasks)
        try:
            # Either side closing ends the link; the other side is then closed too.
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in link.tasks:
                pump.cancel()
            await asyncio.gather(*link.tasks, return_exceptions=True)
            self._tasks.difference_update(link.tasks)

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                return
            if self._delay:
                await asyncio.sleep(self._delay)
            if link.dropping:
                continue
            writer.write(data)
            await writer.drain()

    def _abort(self, link: _Link) -> None:
        for writer in (link.client, link.upstream):
            if writer is not None and not writer.is_closing():
                _rst(writer)
        for pump in link.tasks:
            pump.cancel()


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close abruptly: SO_LINGER 0 turns the close into a TCP RST, unsent data is discarded."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
