"""The HTTP-batch client transport: the calls made in one event-loop turn travel in one POST.

Each batch is a session of its own, as in the reference: the main stub starts a new batch for
calls made after the previous one was sent, and stubs obtained in an earlier batch stop working
when it ends. Calls from the server back into the client cannot work in this mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from dotdo.errors import DotDoConnectionError, ProtocolError, ServiceError
from dotdo.transport.hooks import Hook, Path, Payload, PullCallback, Scheduler
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.map import MapRecipe
from dotdo.transport.scheduler import AsyncioScheduler
from dotdo.transport.session import Session
from dotdo.transport.stub import RpcMainStub, RpcStub

__all__ = ["HttpBatchClient"]


class HttpBatchClient:
    """Sends batches to one URL; `main_stub()` is valid across batches."""

    def __init__(
        self,
        url: str,
        *,
        limits: Limits = DEFAULT_LIMITS,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        import httpx

        self.url = url
        self.limits = limits
        self._http = httpx.AsyncClient(
            headers=dict(headers or {}), timeout=timeout, trust_env=False
        )
        self._loop = asyncio.get_running_loop()
        self._scheduler = AsyncioScheduler(self._loop)
        self._open: Session | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def main_stub(self) -> RpcStub:
        """A stub for the peer's main object; each call joins the batch now being filled."""
        return RpcMainStub(_BatchMainHook(self))

    def current_session(self) -> Session:
        """The batch now being filled (a new one once the previous was sent)."""
        if self._closed:
            raise DotDoConnectionError("this HTTP batch client is closed")
        session = self._open
        if session is None:
            session = Session(None, limits=self.limits)
            session.attach(self._scheduler)
            session.on_outgoing = lambda: self._schedule_flush(session)
            self._open = session
        return session

    def _schedule_flush(self, session: Session) -> None:
        # Two loop turns: tasks created in this turn (asyncio.gather over promises) take their
        # first step, and send their pulls, before the batch leaves. May run from a finalizer.
        loop = self._loop
        if loop.is_closed():
            return
        try:
            same_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            loop.call_soon(loop.call_soon, self._flush, session)
        else:
            loop.call_soon_threadsafe(loop.call_soon, self._flush, session)

    def _flush(self, session: Session) -> None:
        messages = session.take_outgoing()
        if self._open is not session:
            return  # this batch already left: its releases have no server session to go to
        self._open = None
        if not messages:
            return
        task = self._loop.create_task(self._send_batch(session, messages))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_batch(self, session: Session, messages: list[str]) -> None:
        try:
            response = await self._http.post(
                self.url,
                content="\n".join(messages).encode(),
                headers={"content-type": "text/plain; charset=utf-8"},
            )
        except Exception as error:
            session.abort(DotDoConnectionError(f"HTTP batch failed: {error}"), notify_peer=False)
            return
        if response.status_code == 413:
            session.abort(
                ProtocolError("the server refused the batch as too large"), notify_peer=False
            )
            return
        if response.status_code >= 500:
            session.abort(
                ServiceError(
                    f"the server answered HTTP {response.status_code}", code="unavailable"
                ),
                notify_peer=False,
            )
            return
        if response.status_code != 200:
            session.abort(
                DotDoConnectionError(f"the server answered HTTP {response.status_code}"),
                notify_peer=False,
            )
            return
        for line in response.content.split(b"\n") if response.content else []:
            try:
                session.receive(line)
            except ProtocolError:
                return
        session.abort(
            DotDoConnectionError("the HTTP batch ended before this call was answered"),
            notify_peer=False,
        )

    async def close(self) -> None:
        """Cancel the batches in flight, stop the scheduler's tasks and close the HTTP client."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._scheduler.close()
        await self._http.aclose()


class _BatchMainHook(Hook):
    """The server's main object, reached through whichever batch is being filled."""

    __slots__ = ("_client",)

    def __init__(self, client: HttpBatchClient) -> None:
        self._client = client

    def _main(self) -> Hook:
        return self._client.current_session()._main_hook

    @property
    def scheduler(self) -> Scheduler | None:
        return self._client._scheduler

    def canonical(self) -> Hook:
        return self._main()

    def get(self, path: Path) -> Hook:
        return self._main().get(path) if path else self

    def call(self, path: Path, args: Payload) -> Hook:
        return self._main().call(path, args)

    def map(self, path: Path, recipe: MapRecipe) -> Hook:
        return self._main().map(path, recipe)

    def pull(self, done: PullCallback) -> None:
        done(False, TypeError("the main object itself cannot be awaited"))
