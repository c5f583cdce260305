"""dotdo.secrets against the in-process platform (the get-default rule every namespace shares)."""

from __future__ import annotations

import pytest

from dotdo._client import DotDo
from dotdo.errors import NotFoundError

pytestmark = pytest.mark.anyio


async def test_get_returns_a_set_value(client: DotDo, name: str) -> None:
    await client.secrets.set(name, "s3cret")
    assert await client.secrets.get(name) == "s3cret"


async def test_get_of_a_missing_secret_is_not_found(client: DotDo, name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.secrets.get(name)


async def test_get_of_a_missing_secret_returns_the_default_when_given(
    client: DotDo, name: str
) -> None:
    assert await client.secrets.get(name, default=None) is None
