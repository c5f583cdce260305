"""The base of every namespace service: bound to one ``Api``'s auth context."""

from __future__ import annotations

from dotdo.server.context import AuthContext, Runtime
from dotdo.transport.target import RpcTarget

__all__ = ["Service"]


class Service(RpcTarget):
    """A namespace reached through an ``Api``; every public method is an ``@endpoint``."""

    def __init__(self, context: AuthContext) -> None:
        self._context = context

    async def _authorize(self, scope: str | None) -> None:
        await self._context.authorize(scope)

    @property
    def _runtime(self) -> Runtime:
        return self._context.runtime

    @property
    def _tenant_id(self) -> str:
        return self._context.tenant_id
