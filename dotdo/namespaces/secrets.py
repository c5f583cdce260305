"""``dotdo.secrets``: named secret values, with an optional in-process cache."""

from __future__ import annotations

import builtins
import os
import time
from typing import TYPE_CHECKING, Any, TypeVar, overload

from dotdo.errors import NotFoundError
from dotdo.namespaces._base import MISSING, Namespace
from dotdo.namespaces.models import SecretInfo

if TYPE_CHECKING:
    from dotdo._client import DotDo

__all__ = ["Secrets"]

D = TypeVar("D")


class Secrets(Namespace):
    """Read and write the tenant's secrets. Values never appear in reprs or logs."""

    def __init__(self, client: DotDo) -> None:
        super().__init__(client, "secrets")
        self._cache: dict[str, tuple[float, str]] = {}

    @overload
    async def get(self, name: str, *, cache_ttl: float | None = None) -> str: ...

    @overload
    async def get(self, name: str, *, default: D, cache_ttl: float | None = None) -> str | D: ...

    async def get(
        self, name: str, *, default: Any = MISSING, cache_ttl: float | None = None
    ) -> Any:
        """The value of secret ``name``.

        Args:
            name: the secret's name.
            default: returned instead of raising when there is no such secret.
            cache_ttl: seconds to reuse a fetched value without a round trip (None: no cache).

        Raises:
            NotFoundError: no such secret and no ``default`` given.
        """
        if cache_ttl is not None:
            cached = self._cache.get(name)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        try:
            value: str = await self._call("get", name, idempotent=True)
        except NotFoundError:
            if default is MISSING:
                raise
            return default
        if cache_ttl is not None:
            self._cache[name] = (time.monotonic() + cache_ttl, value)
        return value

    async def set(self, name: str, value: str, *, comment: str | None = None) -> SecretInfo:
        """Create or replace secret ``name``; returns its metadata (never the value)."""
        self._cache.pop(name, None)
        info = await self._write("set", name, value, comment)
        return SecretInfo.model_validate(info)

    async def list(self, prefix: str | None = None) -> list[SecretInfo]:
        """Names and metadata of every secret (or those starting with ``prefix``); no values."""
        rows = await self._call("list", prefix, idempotent=True)
        return [SecretInfo.model_validate(row) for row in rows]

    async def delete(self, name: str) -> None:
        """Delete secret ``name``.

        Raises:
            NotFoundError: there is no such secret.
        """
        self._cache.pop(name, None)
        await self._write("delete", name)

    async def env(self, prefix: str | None = None) -> dict[str, str]:
        """Every secret (or those starting with ``prefix``) as ``{name: value}``."""
        values: dict[str, str] = await self._call("env", prefix, idempotent=True)
        return values

    async def load_env(
        self, prefix: str | None = None, *, override: bool = False
    ) -> builtins.list[str]:
        """Copy secrets into ``os.environ``; returns the names set.

        Args:
            prefix: only secrets whose names start with this.
            override: replace variables that are already set (default: keep them).
        """
        loaded: builtins.list[str] = []
        for name, value in (await self.env(prefix)).items():
            if override or name not in os.environ:
                os.environ[name] = value
                loaded.append(name)
        return loaded

    def invalidate_cache(self, name: str | None = None) -> None:
        """Forget cached values: one name, or all of them."""
        if name is None:
            self._cache.clear()
        else:
            self._cache.pop(name, None)
