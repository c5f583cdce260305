"""``dotdo dev`` (``python -m dotdo.server``) as a developer runs it: output, login, signals."""

from __future__ import annotations

import base64
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dotdo._credentials import CredentialStore, StoredLogin
from dotdo.server.app import endpoint_url
from dotdo.server.dev import is_loopback, run_dev
from dotdo.server.platform import DEV_CREDENTIALS_FILE
from dotdo.transport import connect
from tests.server.conftest import (
    PROJECT_ROOT,
    SERVER_STOP_TIMEOUT,
    read_startup,
    running_server,
    server_environment,
    spawn_server,
)

pytestmark = pytest.mark.anyio

RUN_TIMEOUT = 30.0
EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 - what these tests are about


def saved_login(config_dir: Path) -> StoredLogin | None:
    return CredentialStore(config_dir, use_keychain=False).load(strict=True)


def run_to_exit(
    args: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dotdo.server", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


# -- first and later runs ------------------------------------------------------------------------


async def test_first_run_prints_the_endpoint_and_key_and_saves_them_for_the_sdk(
    tmp_path: Path,
) -> None:
    config_dir = tmp_path / "config"
    with running_server(tmp_path / "data", config_dir) as server:
        assert server.lines[-1] == f"LISTENING {server.port}"
        assert any("created tenant 'dev'" in line for line in server.lines)
        assert server.printed("endpoint") == server.ws_url
        key = server.printed("api key")
        assert key.startswith("dotdo_sk_")
        assert saved_login(config_dir) == StoredLogin(endpoint=server.ws_url, api_key=key)
        assert any(str(config_dir) in line for line in server.lines)
        async with connect(server.ws_url) as root:
            assert (await root.authenticate(key).auth.whoami())["scopes"]


async def test_a_later_run_prints_the_same_key_while_dev_credentials_keep_it(
    tmp_path: Path,
) -> None:
    data_dir, config_dir = tmp_path / "data", tmp_path / "config"
    with running_server(data_dir, config_dir) as first:
        key = first.printed("api key")
        first.stop()
    with running_server(data_dir, config_dir) as second:
        assert second.printed("api key") == key
        assert not any("created tenant" in line for line in second.lines)
        assert saved_login(config_dir) == StoredLogin(endpoint=second.ws_url, api_key=key)


async def test_without_dev_credentials_the_key_is_not_shown_and_the_login_is_kept(
    tmp_path: Path,
) -> None:
    data_dir, config_dir = tmp_path / "data", tmp_path / "config"
    with running_server(data_dir, config_dir) as first:
        first.stop()
    saved = saved_login(config_dir)
    (data_dir / DEV_CREDENTIALS_FILE).unlink()
    with running_server(data_dir, config_dir) as second:
        assert second.printed("api key").startswith("not shown")
        assert "dotdo_sk_" not in "\n".join(second.lines)
    assert saved_login(config_dir) == saved


def test_dotdo_data_dir_is_the_default_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "from-env"
    env = server_environment(tmp_path / "config", DOTDO_DATA_DIR=str(data_dir))
    process, _ = spawn_server(["--port", "0"], env, log_dir=tmp_path / "logs")
    try:
        lines = read_startup(process)
        assert lines[-1].startswith("LISTENING ")
        assert (data_dir / "platform.sqlite3").exists()
        assert any(str(data_dir) in line for line in lines)
    finally:
        process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT)


# -- refusing to start -------------------------------------------------------------------------


@pytest.mark.parametrize("host", [EVERY_ADDRESS, "::", "192.0.2.1", "example.com"])
def test_a_non_loopback_host_without_allow_remote_exits_2(tmp_path: Path, host: str) -> None:
    env = server_environment(tmp_path / "config")
    result = run_to_exit(["--host", host, "--port", "0", "--data", str(tmp_path / "d")], env)
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr
    assert not (tmp_path / "d").exists()
    assert not (tmp_path / "config").exists()


def test_allow_remote_lets_it_listen_on_every_address(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    env = server_environment(config_dir)
    args = ["--host", EVERY_ADDRESS, "--allow-remote", "--port", "0", "--data", str(tmp_path / "d")]
    process, _ = spawn_server(args, env, log_dir=tmp_path / "logs")
    try:
        lines = read_startup(process)
        port = int(lines[-1].split()[1])
        login = saved_login(config_dir)
        assert login is not None
        assert login.endpoint == f"ws://127.0.0.1:{port}/rpc"
    finally:
        process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT)


def test_a_port_in_use_exits_1_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = server_environment(tmp_path / "config")
        result = run_to_exit(["--port", str(port), "--data", str(tmp_path / "d")], env)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_an_unusable_data_directory_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    assert run_dev(["--data", str(tmp_path / "a-file" / "data")]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_a_data_directory_under_another_master_key_exits_1(tmp_path: Path) -> None:
    env = server_environment(tmp_path / "config")
    data = ["--port", "0", "--data", str(tmp_path / "d")]
    with running_server(tmp_path / "d", tmp_path / "config") as server:
        server.stop()
    result = run_to_exit(data, {**env, "DOTDO_MASTER_KEY": base64.b64encode(bytes(32)).decode()})
    assert result.returncode == 1
    assert "master key" in result.stderr


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("ai", "expected NAME=module:Class"),
        ("ai=no_such_module_here:Ai", "cannot import"),
        ("ai=json:NoSuchClass", "has no"),
        ("ai=collections:OrderedDict", "RpcTarget"),
    ],
)
def test_a_bad_service_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, problem: str
) -> None:
    assert run_dev(["--service", spec, "--data", str(tmp_path / "d")]) == 2
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_a_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_dev(["--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


# -- stopping --------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_it_with_status_0(tmp_path: Path, sig: signal.Signals) -> None:
    with running_server(tmp_path / "data", tmp_path / "config") as server:
        assert server.stop(sig) == 0
        assert "Traceback" not in server.stderr()


async def test_ctrl_c_with_a_client_connected_keeps_every_row(tmp_path: Path) -> None:
    data_dir, config_dir = tmp_path / "data", tmp_path / "config"
    with running_server(data_dir, config_dir) as first:
        key = first.printed("api key")
        async with connect(first.ws_url) as root:
            api = await root.authenticate(key)
            await api.db.execute("CREATE TABLE t (x)")
            await api.db.bulk_insert("t", [{"x": n} for n in range(50)])
            assert first.stop(signal.SIGINT) == 0
        assert "Traceback" not in first.stderr()
    with running_server(data_dir, config_dir) as second:
        async with connect(second.ws_url) as root:
            count = await root.authenticate(key).db.query("SELECT count(*) AS n FROM t")
            assert count["rows"] == [{"n": 50}]


# -- user services ---------------------------------------------------------------------------


async def test_service_flag_serves_a_class_from_the_working_directory(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "myapp").mkdir(parents=True)
    (project / "myapp" / "__init__.py").write_text("")
    (project / "myapp" / "ai.py").write_text(
        textwrap.dedent(
            """
            from dotdo.transport import RpcTarget

            class AiService(RpcTarget):
                async def generate(self, prompt: str) -> str:
                    return f"generated: {prompt}"
            """
        )
    )
    args = ["--service", "ai=myapp.ai:AiService"]
    with running_server(tmp_path / "data", tmp_path / "config", *args, cwd=project) as server:
        assert server.printed("services") == "api.rpc.ai"
        async with connect(server.ws_url) as root:
            api = root.authenticate(server.printed("api key"))
            assert await api.rpc.ai.generate("a haiku") == "generated: a haiku"
            assert await api.service("ai").generate("x") == "generated: x"


# -- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        (EVERY_ADDRESS, False),
        ("::", False),
        ("10.0.0.1", False),
        ("my-laptop.local", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "ws://127.0.0.1:8787/rpc"),
        (EVERY_ADDRESS, "ws://127.0.0.1:8787/rpc"),
        ("::", "ws://[::1]:8787/rpc"),
        ("::1", "ws://[::1]:8787/rpc"),
        ("localhost", "ws://localhost:8787/rpc"),
    ],
)
def test_endpoint_url_is_reachable_from_this_machine(host: str, expected: str) -> None:
    assert endpoint_url(host, 8787) == expected
