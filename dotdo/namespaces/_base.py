"""What every namespace shares: turning one Python call into one resilient RPC call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from dotdo._client import DotDo

__all__ = ["MISSING", "Namespace"]


class _Missing:
    """Marks an argument that was not given (None can be a real default)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()


class Namespace:
    """Base of the namespace classes: holds the client and the service's path on the ``Api``."""

    def __init__(self, client: DotDo, service: str) -> None:
        self._client = client
        self._service = service

    async def _call(
        self, method: str, *args: Any, idempotent: bool, timeout: float | None = None
    ) -> Any:
        """``api.<service>.<method>(*args)``; retried when ``idempotent`` (reads)."""
        return await self._client._call(
            (self._service, method), args, idempotent=idempotent, timeout=timeout
        )

    async def _write(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """A mutation: a fresh idempotency key is passed last, so a retry is applied once."""
        key = self._client.new_idempotency_key()
        return await self._client._call(
            (self._service, method), (*args, key), idempotent=True, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"<dotdo.{self._service}>"
