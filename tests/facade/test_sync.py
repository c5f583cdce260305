"""``dotdo.sync``: the blocking twin, from plain code, from inside a running loop, and ``-c``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from dotdo import DotDo, NotFoundError
from dotdo.namespaces.models import SecretInfo

from .conftest import SocketPlatform, Target
from .helpers import clean_environ, run_python


@pytest.fixture
def configured(singleton: DotDo, target: Target, monkeypatch: pytest.MonkeyPatch) -> DotDo:
    """The singleton, pointed at ``target`` through the environment only."""
    monkeypatch.setenv("DOTDO_ENDPOINT", target.endpoint)
    if target.api_key:
        monkeypatch.setenv("DOTDO_API_KEY", target.api_key)
    return singleton


@pytest.fixture
def sync_client(target: Target) -> Iterator[DotDo]:
    client = target.client()
    yield client
    client.sync.close()


def test_the_singleton_sync_twin_reads_a_secret(configured: DotDo, secret_name: str) -> None:
    configured.sync.secrets.set(secret_name, "from sync")
    assert configured.sync.secrets.get(secret_name) == "from sync"


def test_sync_returns_models_and_lists_as_they_are(sync_client: DotDo, secret_name: str) -> None:
    info = sync_client.sync.secrets.set(secret_name, "v")
    assert isinstance(info, SecretInfo)
    listed = sync_client.sync.secrets.list(secret_name)
    assert [item.name for item in listed] == [secret_name]


def test_sync_raises_not_found_and_honours_default(sync_client: DotDo, secret_name: str) -> None:
    with pytest.raises(NotFoundError):
        sync_client.sync.secrets.get(secret_name)
    assert sync_client.sync.secrets.get(secret_name, default="d") == "d"


def test_sync_works_inside_a_running_event_loop(configured: DotDo, secret_name: str) -> None:
    configured.sync.secrets.set(secret_name, "inside a loop")

    async def handler() -> str:
        # A notebook cell or a sync helper called from async code: the loop is running here.
        asyncio.get_running_loop()
        value: str = configured.sync.secrets.get(secret_name)
        return value

    assert asyncio.run(handler()) == "inside a loop"


@pytest.mark.anyio
async def test_sync_and_async_use_of_one_client_work_together(
    configured: DotDo, secret_name: str
) -> None:
    configured.sync.secrets.set(secret_name, "written by sync")
    assert await configured.secrets.get(secret_name) == "written by sync"
    await configured.secrets.set(secret_name, "written by async")
    assert configured.sync.secrets.get(secret_name) == "written by async"


def test_a_sync_transaction_is_a_context_manager(sync_client: DotDo, secret_name: str) -> None:
    table = secret_name.lower()
    sync_client.sync.db.execute(f"CREATE TABLE {table} (n INTEGER)")
    with sync_client.sync.db.transaction() as tx:
        tx.execute(f"INSERT INTO {table} (n) VALUES (7)")
    assert sync_client.sync.db.query(f"SELECT n FROM {table}").rows == [{"n": 7}]


def test_the_one_liner_reads_a_secret_with_stored_credentials(
    socket_platform: SocketPlatform,
) -> None:
    value = f"postgres://db/{uuid.uuid4().hex}"
    writer = DotDo(endpoint=socket_platform.endpoint, api_key=socket_platform.api_key)
    writer.sync.secrets.set("DB_URL", value)
    writer.sync.close()

    environment = clean_environ(
        DOTDO_ENDPOINT=socket_platform.endpoint,
        DOTDO_CONFIG_DIR=socket_platform.config_dir,  # the login `dotdo dev` saved
        DOTDO_NO_KEYCHAIN="1",
    )
    result = run_python(
        "from dotdo import dotdo; print(dotdo.sync.secrets.get('DB_URL'))",
        environment,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == value + "\n"
    assert result.stderr == ""
