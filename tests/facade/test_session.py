"""One session for everything: pipelined first call, pools, event loops, fork, a thousand tasks."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from dotdo import DotDo

from .conftest import SocketPlatform, Target, running_platform
from .helpers import Wiretap, clean_environ, open_sessions, run_python, transport_session

pytestmark = pytest.mark.anyio


async def test_the_first_call_pipelines_exchange_and_authenticate_in_one_round_trip(
    client: DotDo, secret_name: str
) -> None:
    wiretap = Wiretap(transport_session(await client._session()))  # opened, nothing sent yet
    assert wiretap.events == []
    assert await client.secrets.get(secret_name, default="absent") == "absent"
    assert wiretap.requests().count("push") >= 3  # exchange, authenticate, the call
    assert wiretap.round_trips() == 1


async def test_later_calls_reuse_the_authenticated_capability(
    client: DotDo, secret_name: str
) -> None:
    await client.secrets.get(secret_name, default=None)
    wiretap = Wiretap(transport_session(await client._session()))
    await client.secrets.get(secret_name, default=None)
    assert wiretap.round_trips() == 1
    assert wiretap.requests() == ["push", "pull"]


async def test_every_call_and_every_view_uses_the_one_session(
    client: DotDo, secret_name: str
) -> None:
    await client.secrets.get(secret_name, default=None)  # authenticated
    session = await client._session()
    wiretap = Wiretap(transport_session(session))
    view = client.with_options(timeout=5)
    await client.secrets.set(secret_name, "one")
    await view.secrets.get(secret_name)
    await client.secrets.list(secret_name)
    await view.secrets.delete(secret_name)
    assert wiretap.requests().count("pull") == 4
    assert len(client._shared.pools) == 1
    assert open_sessions(client) == [session]


async def test_a_larger_pool_spreads_calls_over_its_sessions(
    target: Target, secret_name: str
) -> None:
    client = target.client(pool_size=3)
    sessions = {id(await client._session()): await client._session() for _ in range(6)}
    assert len(sessions) == 3
    wiretaps = [Wiretap(transport_session(session)) for session in sessions.values()]
    await asyncio.gather(*(client.secrets.get(secret_name, default=None) for _ in range(9)))
    assert [wiretap.requests().count("pull") > 0 for wiretap in wiretaps] == [True] * 3
    await client.close()


async def test_a_thousand_concurrent_tasks_on_a_fresh_client_all_succeed(
    client: DotDo, secret_name: str
) -> None:
    # Not connected yet: the tasks race to open the session and to authenticate it.
    missing = [client.secrets.get(secret_name, default="absent") for _ in range(1000)]
    assert await asyncio.gather(*missing) == ["absent"] * 1000
    await client.secrets.set(secret_name, "shared value")
    found = await asyncio.gather(*(client.secrets.get(secret_name) for _ in range(1000)))
    assert found == ["shared value"] * 1000
    assert len(open_sessions(client)) == 1


def test_two_asyncio_runs_in_a_row_use_the_singleton(
    singleton: DotDo, target: Target, monkeypatch: pytest.MonkeyPatch, secret_name: str
) -> None:
    monkeypatch.setenv("DOTDO_ENDPOINT", target.endpoint)
    if target.api_key:
        monkeypatch.setenv("DOTDO_API_KEY", target.api_key)

    async def write_then_read() -> str:
        await singleton.secrets.set(secret_name, "across loops")
        return await singleton.secrets.get(secret_name)

    assert asyncio.run(write_then_read()) == "across loops"
    assert asyncio.run(singleton.secrets.get(secret_name)) == "across loops"
    assert asyncio.run(singleton.secrets.get(secret_name)) == "across loops"
    assert len(singleton._shared.pools) == 1  # the pools of ended loops are forgotten


async def test_close_then_call_reconnects(
    socket_platform: SocketPlatform, secret_name: str
) -> None:
    client = DotDo(endpoint=socket_platform.endpoint, api_key=socket_platform.api_key)
    await client.secrets.set(secret_name, "kept")
    first = await client._session()
    await client.close()
    assert not client.is_connected
    assert not first.is_open
    assert await client.secrets.get(secret_name) == "kept"
    assert await client._session() is not first
    await client.close()


# -- fork ------------------------------------------------------------------------------------

FORK_SCRIPT = """
import json, os, sys
from dotdo import dotdo

name = os.environ["FORK_SECRET"]

def session():
    return dotdo.sync._portal.run(dotdo._session())

def address(platform_session):
    driver = getattr(platform_session._closer, "_driver", None)
    return None if driver is None else list(driver._write_now.__self__.local_address[:2])

dotdo.sync.secrets.set(name, "set before the fork")
parent = session()
parent.made_before_fork = True
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    value = dotdo.sync.secrets.get(name)
    child = session()
    new = not getattr(child, "made_before_fork", False) and child.is_open
    report = {"value": value, "new_session": new, "address": address(child)}
    os.write(write, json.dumps(report).encode())
    os.close(write)
    sys.exit(0 if new else 3)
os.close(write)
child = json.loads(os.read(read, 65536))
_, status = os.waitpid(pid, 0)
print(json.dumps({
    "child": child,
    "child_exit": os.waitstatus_to_exitcode(status),
    "parent_address": address(parent),
    "parent_value_after": dotdo.sync.secrets.get(name),
    "parent_session_after": session() is parent and parent.is_open,
}))
"""


def fork_environment(target: Target, secret_name: str, config_dir: Path) -> dict[str, str]:
    extra = {"DOTDO_ENDPOINT": target.endpoint, "FORK_SECRET": secret_name}
    if target.api_key:
        extra["DOTDO_API_KEY"] = target.api_key
    return clean_environ(DOTDO_CONFIG_DIR=config_dir, DOTDO_NO_KEYCHAIN="1", **extra)


def test_a_forked_child_opens_its_own_session_and_the_parent_keeps_its_own(
    target: Target, secret_name: str, config_dir: Path
) -> None:
    result = run_python(FORK_SCRIPT, fork_environment(target, secret_name, config_dir))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["child_exit"] == 0
    assert found["child"]["value"] == "set before the fork"
    assert found["child"]["new_session"] is True
    if target.name == "socket":  # a new TCP connection, not the parent's socket
        assert found["child"]["address"] != found["parent_address"]
    assert found["parent_value_after"] == "set before the fork"
    assert found["parent_session_after"] is True


def test_a_forked_child_that_does_not_use_dotdo_still_exits(
    secret_name: str, config_dir: Path
) -> None:
    script = (
        "import os, sys\n"
        "from dotdo import dotdo\n"
        "dotdo.sync.secrets.get(os.environ['FORK_SECRET'], default=None)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    sys.exit(0)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    memory = Target("memory", "memory://", None)  # the hang does not depend on the platform
    environment = fork_environment(memory, secret_name, config_dir)
    try:
        result = run_python(script, environment, timeout=5)
    except Exception as error:  # the hang: subprocess.TimeoutExpired
        pytest.fail(f"the child did not exit: {type(error).__name__}")
    assert result.stdout.strip() == "0"


# -- the server's side of a session ----------------------------------------------------------


def test_a_closed_client_leaves_nothing_running_on_the_server(tmp_path: Path) -> None:
    with running_platform(tmp_path / "platform") as (server, process):

        async def call_and_close() -> None:
            client = DotDo(endpoint=server.endpoint, api_key=server.api_key)
            await client.secrets.get("ANY", default=None)
            await client.close()

        asyncio.run(call_and_close())
        time.sleep(0.2)
        started = time.monotonic()
        process.terminate()
        process.wait(timeout=10)
        stopped_in = time.monotonic() - started
    assert stopped_in < 1.5, f"the server took {stopped_in:.1f}s to stop"
