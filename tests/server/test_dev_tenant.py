"""ensure_dev_tenant: the local development tenant, its admin user and API key."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dotdo.server import Platform, ensure_dev_tenant
from dotdo.server.platform import DEV_CREDENTIALS_FILE
from tests.server.conftest import MASTER_KEY

pytestmark = pytest.mark.anyio


def test_the_first_run_creates_the_tenant_and_returns_the_key(tmp_path: Path) -> None:
    dev = ensure_dev_tenant(tmp_path, master_key=MASTER_KEY)
    assert dev.created
    assert dev.tenant == "dev"
    assert dev.api_key is not None
    assert dev.api_key.startswith("dotdo_sk_")
    assert dev.password is not None


def test_the_first_run_saves_the_credentials_privately(tmp_path: Path) -> None:
    dev = ensure_dev_tenant(tmp_path, master_key=MASTER_KEY)
    path = tmp_path / DEV_CREDENTIALS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert (saved["api_key"], saved["api_key_id"]) == (dev.api_key, dev.api_key_id)


def test_later_runs_return_the_same_key_without_creating_anything(tmp_path: Path) -> None:
    first = ensure_dev_tenant(tmp_path, master_key=MASTER_KEY)
    again = ensure_dev_tenant(tmp_path, master_key=MASTER_KEY)
    assert not again.created
    assert (again.tenant_id, again.api_key_id, again.api_key) == (
        first.tenant_id,
        first.api_key_id,
        first.api_key,
    )


def test_without_the_credentials_file_later_runs_return_only_the_key_id(tmp_path: Path) -> None:
    first = ensure_dev_tenant(tmp_path, master_key=MASTER_KEY)
    (tmp_path / DEV_CREDENTIALS_FILE).unlink()
    again = ensure_dev_tenant(tmp_path, master_key=MASTER_KEY)
    assert (again.api_key_id, again.api_key, again.password) == (first.api_key_id, None, None)


def test_the_repr_never_shows_the_key(tmp_path: Path) -> None:
    dev = ensure_dev_tenant(tmp_path, master_key=MASTER_KEY)
    assert dev.api_key is not None
    assert dev.api_key not in repr(dev)


async def test_the_dev_key_is_an_admin_key(tmp_path: Path) -> None:
    dev = ensure_dev_tenant(tmp_path, master_key=MASTER_KEY)
    assert dev.api_key is not None
    with Platform(tmp_path, master_key=MASTER_KEY) as platform:
        api = await platform.main().authenticate(dev.api_key)
        assert "auth:admin" in (await api.auth.whoami())["scopes"]
