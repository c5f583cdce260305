"""``examples/fastapi_app.py`` over HTTP, its platform real: memory:// or the socket platform."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from dotdo import DotDo

from .conftest import Target
from .helpers import open_sessions

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def http(
    singleton: DotDo, target: Target, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the example app, inside its lifespan; the singleton is set by env."""
    monkeypatch.setenv("DOTDO_ENDPOINT", target.endpoint)
    if target.api_key:
        monkeypatch.setenv("DOTDO_API_KEY", target.api_key)
    app: Any = load_example().app
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://example") as client,
    ):
        yield client
    assert not singleton.is_connected  # the lifespan closed the session


async def test_config_reads_the_secret_but_never_returns_it(
    http: httpx.AsyncClient, singleton: DotDo
) -> None:
    before = await http.get("/config")
    assert before.status_code == 200
    if before.json() != {"database": "not configured"}:  # only the first run sees it unset
        assert before.json()["database"] == "configured"
    await singleton.secrets.set("DATABASE_URL", "postgres://app:pa55word@db.internal:5432/app")
    after = await http.get("/config")
    assert after.json() == {"database": "configured", "host": "db.internal"}
    assert "pa55word" not in after.text


async def test_a_created_user_can_be_read_back(http: httpx.AsyncClient) -> None:
    created = await http.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["email"]) == ("Ada", "ada@example.com")

    read = await http.get(f"/users/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body


async def test_an_unknown_user_is_a_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/users/no-such-user")
    assert response.status_code == 404
    assert "no-such-user" in response.json()["detail"]


async def test_an_invalid_body_is_refused_before_any_call(
    http: httpx.AsyncClient, singleton: DotDo
) -> None:
    response = await http.post("/users", json={"name": "", "email": "not-an-email"})
    assert response.status_code == 422
    assert not singleton.is_connected


async def test_concurrent_requests_share_the_one_session(
    http: httpx.AsyncClient, singleton: DotDo
) -> None:
    payloads = [{"name": f"user {n}", "email": f"u{n}@example.com"} for n in range(50)]
    created = await asyncio.gather(*(http.post("/users", json=p) for p in payloads))
    assert [response.status_code for response in created] == [201] * 50
    ids = [response.json()["id"] for response in created]
    read = await asyncio.gather(*(http.get(f"/users/{user_id}") for user_id in ids))
    assert [response.json()["name"] for response in read] == [p["name"] for p in payloads]
    assert len(open_sessions(singleton)) == 1
