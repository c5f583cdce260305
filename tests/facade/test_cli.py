"""``python -m dotdo``: login, logout, whoami, auth status, secrets, db, logs — against a socket."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from dotdo._credentials import CredentialStore

from .conftest import SocketPlatform
from .helpers import clean_environ, run_cli


@pytest.fixture
def logged_in(socket_platform: SocketPlatform) -> dict[str, str]:
    """An environment whose only configuration is the login `dotdo dev` stored."""
    return clean_environ(DOTDO_CONFIG_DIR=socket_platform.config_dir, DOTDO_NO_KEYCHAIN="1")


@pytest.fixture
def fresh(config_dir: Path) -> dict[str, str]:
    """An environment with an empty config dir: nothing stored yet."""
    return clean_environ(DOTDO_CONFIG_DIR=config_dir, DOTDO_NO_KEYCHAIN="1")


def assert_failed(result: object, *, code: int = 1) -> str:
    """The command failed cleanly: the exit code, one message on stderr, no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert stderr.strip()
    assert "Traceback" not in stderr
    return stderr


def test_secrets_set_get_list_delete(logged_in: dict[str, str], secret_name: str) -> None:
    put = run_cli(
        "secrets", "set", secret_name, "v4lue", "--comment", "made by the CLI", env=logged_in
    )
    assert put.returncode == 0, put.stderr
    assert put.stdout == f"set {secret_name} (version 1)\n"

    got = run_cli("secrets", "get", secret_name, env=logged_in)
    assert (got.returncode, got.stdout) == (0, "v4lue\n")

    listed = run_cli("secrets", "list", "--prefix", secret_name, env=logged_in)
    assert listed.stdout == f"{secret_name}  v1  # made by the CLI\n"
    assert "v4lue" not in listed.stdout

    deleted = run_cli("secrets", "delete", secret_name, env=logged_in)
    assert (deleted.returncode, deleted.stdout) == (0, f"deleted {secret_name}\n")

    missing = run_cli("secrets", "get", secret_name, env=logged_in)
    assert secret_name in assert_failed(missing)
    assert missing.stdout == ""


def test_secrets_set_reads_the_value_from_stdin(
    logged_in: dict[str, str], secret_name: str
) -> None:
    put = run_cli("secrets", "set", secret_name, env=logged_in, stdin="from a pipe\n")
    assert put.returncode == 0, put.stderr
    assert run_cli("secrets", "get", secret_name, env=logged_in).stdout == "from a pipe\n"


def test_auth_status_says_where_credentials_come_from_never_their_value(
    logged_in: dict[str, str], socket_platform: SocketPlatform
) -> None:
    stored = run_cli("auth", "status", env=logged_in)
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.split() == ["endpoint:", socket_platform.endpoint, "credentials:", "file"]

    from_env = run_cli(
        "auth", "status", env={**logged_in, "DOTDO_API_KEY": socket_platform.api_key}
    )
    assert "credentials: env:DOTDO_API_KEY" in from_env.stdout
    for result in (stored, from_env):
        assert socket_platform.api_key not in result.stdout + result.stderr


def test_login_reads_the_key_from_stdin_and_stores_it_privately(
    fresh: dict[str, str], config_dir: Path, socket_platform: SocketPlatform, secret_name: str
) -> None:
    endpoint, key = socket_platform.endpoint, socket_platform.api_key
    login = run_cli("login", "--endpoint", endpoint, env=fresh, stdin=key + "\n")
    assert login.returncode == 0, login.stderr
    assert login.stdout.startswith(f"logged in to {endpoint} as ")
    assert "(stored in the file)" in login.stdout
    assert key not in login.stdout + login.stderr
    store = CredentialStore(config_dir, use_keychain=False)
    assert stat.S_IMODE(store.data_path.stat().st_mode) == 0o600
    stored = store.load(strict=True)
    assert stored is not None
    assert (stored.endpoint, stored.api_key) == (endpoint, key)

    whoami = run_cli("whoami", env=fresh)
    assert whoami.returncode == 0, whoami.stderr
    assert "(tenant dev)" in whoami.stdout
    assert run_cli("secrets", "get", secret_name, env=fresh).returncode == 1

    logout = run_cli("logout", env=fresh)
    assert (logout.returncode, logout.stdout) == (0, "logged out: the stored login is gone\n")
    assert not store.data_path.exists()
    after = run_cli("whoami", env={**fresh, "DOTDO_ENDPOINT": endpoint})
    assert "no credentials" in assert_failed(after)


def test_login_with_a_locked_keychain_falls_back_to_the_file(
    fresh: dict[str, str], config_dir: Path, socket_platform: SocketPlatform
) -> None:
    environment = {k: v for k, v in fresh.items() if k != "DOTDO_NO_KEYCHAIN"}
    environment["PYTHON_KEYRING_BACKEND"] = "tests.facade.broken_keyrings.Locked"
    login = run_cli(
        "login",
        "--endpoint",
        socket_platform.endpoint,
        env=environment,
        stdin=socket_platform.api_key + "\n",
    )
    assert login.returncode == 0, login.stderr
    assert "(stored in the file)" in login.stdout
    store = CredentialStore(config_dir, use_keychain=False)
    assert stat.S_IMODE(store.data_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.key_path.stat().st_mode) == 0o600
    assert run_cli("whoami", env=environment).returncode == 0


def test_login_with_a_wrong_key_fails_and_stores_nothing(
    fresh: dict[str, str], config_dir: Path, socket_platform: SocketPlatform
) -> None:
    wrong = "dotdo_sk_" + "w" * 43
    login = run_cli("login", "--endpoint", socket_platform.endpoint, env=fresh, stdin=wrong + "\n")
    assert wrong not in assert_failed(login) + login.stdout
    assert not (config_dir / "credentials.enc").exists()


def test_login_with_no_key_is_a_usage_error(
    fresh: dict[str, str], socket_platform: SocketPlatform
) -> None:
    login = run_cli("login", "--endpoint", socket_platform.endpoint, env=fresh, stdin="\n")
    assert "no API key" in assert_failed(login, code=2)


def test_db_query_prints_rows_as_json_lines(logged_in: dict[str, str]) -> None:
    result = run_cli("db", "query", "SELECT ? AS n, ? AS word", "41", "hi", env=logged_in)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"n": 41, "word": "hi"}]


def test_db_query_with_bad_sql_fails_cleanly(logged_in: dict[str, str]) -> None:
    assert_failed(run_cli("db", "query", "SELEKT nothing", env=logged_in))


def test_logs_tail_prints_recent_entries(
    logged_in: dict[str, str], socket_platform: SocketPlatform, secret_name: str
) -> None:
    from dotdo import DotDo

    writer = DotDo(endpoint=socket_platform.endpoint, api_key=socket_platform.api_key)
    writer.sync.logs.error("disk almost full", {"free_mb": 12}, category=secret_name)
    writer.sync.logs.flush()
    writer.sync.close()
    result = run_cli("logs", "tail", "--category", secret_name, env=logged_in)
    assert result.returncode == 0, result.stderr
    [entry] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (entry["message"], entry["level"], entry["data"]["free_mb"]) == (
        "disk almost full",
        "error",
        12,
    )


def test_an_unreachable_platform_fails_with_a_message(fresh: dict[str, str]) -> None:
    environment = {
        **fresh,
        "DOTDO_ENDPOINT": "ws://127.0.0.1:9/rpc",
        "DOTDO_API_KEY": "dotdo_sk_" + "u" * 43,
        # A refused connection is redialled as a cold start for DOTDO_COLD_START_TIMEOUT
        # (default 30 s) before the command gives up; keep that short here.
        "DOTDO_COLD_START_TIMEOUT": "1",
    }
    result = run_cli("secrets", "get", "DB_URL", env=environment)
    stderr = assert_failed(result)
    assert "dotdo: could not connect to ws://127.0.0.1:9/rpc" in stderr
    assert "u" * 43 not in stderr


def test_an_invalid_setting_fails_naming_it(fresh: dict[str, str]) -> None:
    result = run_cli("auth", "status", env={**fresh, "DOTDO_TIMEOUT": "ten"})
    assert "DOTDO_TIMEOUT" in assert_failed(result)


@pytest.mark.parametrize("arguments", [["secrets"], ["frobnicate"], ["secrets", "get"]])
def test_usage_errors_exit_2(fresh: dict[str, str], arguments: list[str]) -> None:
    result = run_cli(*arguments, env=fresh)
    assert result.returncode == 2
