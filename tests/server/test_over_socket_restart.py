"""Durability over the socket: kill the server with SIGKILL, start it again, and nothing is lost.

Every write below was acknowledged to the client before the kill, so every one must be there
after the restart; and no file the server wrote holds a secret value in plaintext.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from dotdo.transport import connect
from tests.server.conftest import files_under, running_server

pytestmark = pytest.mark.anyio

CANARY = "canary-over-socket-5d1e-never-in-plaintext"


async def test_every_acknowledged_write_survives_sigkill(tmp_path: Path) -> None:
    data_dir, config_dir = tmp_path / "data", tmp_path / "config"
    with running_server(data_dir, config_dir) as first:
        dev_key = first.printed("api key")
        async with connect(first.ws_url) as root:
            api = await root.authenticate(dev_key)
            await api.secrets.set("CANARY", CANARY, "kept encrypted")
            await api.collections.set("notes", "n1", {"text": "hello"})
            await api.db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x)")
            await api.db.bulk_insert("t", [{"x": n} for n in range(100)])
            transaction = await api.db.begin()
            await transaction.execute("INSERT INTO t (x) VALUES (?)", ["in a transaction"])
            await transaction.commit()
            await api.auth.users.add("bob", "correct horse", ["reader"], None)
            extra_key = (await api.auth.api_keys.create("ci", None))["key"]
            await api.logs.write([{"level": "info", "message": "before the kill"}])
            assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    for path in files_under(data_dir):
        assert CANARY.encode() not in path.read_bytes(), path.name

    with running_server(data_dir, config_dir) as second:
        assert second.printed("api key") == dev_key
        async with connect(second.ws_url) as root:
            api = await root.authenticate(dev_key)
            assert await api.secrets.get("CANARY") == CANARY
            assert await api.collections.get("notes", "n1") == {"text": "hello"}
            count = await api.db.query("SELECT count(*) AS n FROM t")
            assert count["rows"] == [{"n": 101}]
            last = await api.db.query("SELECT x FROM t ORDER BY id DESC LIMIT 1")
            assert last["rows"] == [{"x": "in a transaction"}]
            assert (await root.login("bob", "correct horse", "dev"))["user"]["roles"] == ["reader"]
            assert (await root.authenticate(extra_key).auth.whoami())["tenant"] == "dev"
            assert [entry["message"] for entry in await api.logs.query()] == ["before the kill"]

    for path in files_under(data_dir):
        assert CANARY.encode() not in path.read_bytes(), path.name


async def test_an_uncommitted_transaction_is_gone_after_sigkill(tmp_path: Path) -> None:
    data_dir, config_dir = tmp_path / "data", tmp_path / "config"
    with running_server(data_dir, config_dir) as first:
        dev_key = first.printed("api key")
        async with connect(first.ws_url) as root:
            api = await root.authenticate(dev_key)
            await api.db.execute("CREATE TABLE t (x)")
            transaction = await api.db.begin()
            await transaction.execute("INSERT INTO t VALUES (1)")
            first.stop(signal.SIGKILL)

    with running_server(data_dir, config_dir) as second:
        async with connect(second.ws_url) as root:
            api = root.authenticate(dev_key)
            assert (await api.db.query("SELECT count(*) AS n FROM t"))["rows"] == [{"n": 0}]
            await api.db.execute("INSERT INTO t VALUES (2)")
