"""Settings through ``DotDo``: every variable, clear errors, precedence, configure, with_options."""

from __future__ import annotations

from typing import Any

import pytest

from dotdo import AuthenticationError, DotDo, DotDoTimeoutError, ValidationError
from dotdo._credentials import CredentialStore, StoredLogin

from .conftest import SocketPlatform

STORED_ENDPOINT = "ws://stored.example:9000/rpc"


def store_login(endpoint: str, api_key: str) -> None:
    """Save a login the way ``dotdo login`` does, in this test's DOTDO_CONFIG_DIR."""
    CredentialStore().save(StoredLogin(endpoint=endpoint, api_key=api_key))


@pytest.mark.parametrize(
    ("variable", "value", "setting", "expected"),
    [
        ("DOTDO_API_KEY", "dotdo_sk_env", "api_key", "dotdo_sk_env"),
        ("DOTDO_TOKEN", "header.payload.sig", "access_token", "header.payload.sig"),
        ("DOTDO_ACCESS_TOKEN", "header.payload.sig", "access_token", "header.payload.sig"),
        ("DOTDO_ENDPOINT", "wss://api.example/rpc", "endpoint", "wss://api.example/rpc"),
        ("DOTDO_TIMEOUT", "12.5", "timeout", 12.5),
        ("DOTDO_MAX_RETRIES", "5", "max_retries", 5),
        ("DOTDO_RETRY_DELAY", "0.25", "retry_delay", 0.25),
        ("DOTDO_POOL_SIZE", "3", "pool_size", 3),
        ("DOTDO_DEBUG", "true", "debug", True),
    ],
)
def test_each_variable_sets_its_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, setting: str, expected: Any
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(DotDo().settings, setting) == expected


def test_the_token_variables_name_the_credential_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOTDO_ACCESS_TOKEN", "header.payload.sig")
    assert DotDo().settings.credential_source == "env:DOTDO_ACCESS_TOKEN"


def test_the_dotdo_url_dsn_sets_endpoint_key_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOTDO_URL", "dotdo://dotdo_sk_dsn@db.example:7000/rpc?timeout=7&ssl=false")
    settings = DotDo().settings
    assert settings.endpoint == "ws://db.example:7000/rpc"
    assert settings.api_key == "dotdo_sk_dsn"
    assert settings.timeout == 7
    assert settings.credential_source == "env:DOTDO_URL"


def test_an_explicit_variable_beats_the_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOTDO_URL", "dotdo://dotdo_sk_dsn@db.example:7000/rpc?timeout=7")
    monkeypatch.setenv("DOTDO_TIMEOUT", "3")
    assert DotDo().settings.timeout == 3


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DOTDO_TIMEOUT", "ten"),
        ("DOTDO_TIMEOUT", "-1"),
        ("DOTDO_MAX_RETRIES", "-1"),
        ("DOTDO_MAX_RETRIES", "2.5"),
        ("DOTDO_RETRY_DELAY", "soon"),
        ("DOTDO_POOL_SIZE", "0"),
        ("DOTDO_DEBUG", "maybe"),
        ("DOTDO_ENDPOINT", "ftp://files.example"),
        ("DOTDO_URL", "https://not-a-dsn.example"),
    ],
)
def test_an_invalid_variable_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    client = DotDo()  # building the client reads nothing
    with pytest.raises(ValidationError, match=variable):
        client.settings  # noqa: B018


@pytest.mark.parametrize(
    ("argument", "value"),
    [("timeout", 0), ("max_retries", -2), ("pool_size", 0), ("endpoint", "nope"), ("debug", "x")],
)
def test_an_invalid_argument_is_named_in_the_error(argument: str, value: Any) -> None:
    client = DotDo(**{argument: value})
    with pytest.raises(ValidationError, match=argument) as caught:
        client.settings  # noqa: B018
    assert caught.value.details["setting"] == argument


@pytest.mark.anyio
async def test_an_invalid_setting_fails_the_first_call_not_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOTDO_POOL_SIZE", "many")
    client = DotDo(endpoint="memory://")
    with pytest.raises(ValidationError, match="DOTDO_POOL_SIZE must be a whole number"):
        await client.secrets.get("ANY")
    assert client.is_connected is False


def test_a_bad_api_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOTDO_API_KEY", "dotdo_sk_half pasted")
    with pytest.raises(ValidationError, match="DOTDO_API_KEY") as caught:
        DotDo().settings  # noqa: B018
    assert "pasted" not in str(caught.value)


# -- precedence: argument > environment > stored login > defaults ------------------------------


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = DotDo().settings
    assert settings.endpoint == "ws://127.0.0.1:8787/rpc"
    assert (settings.timeout, settings.max_retries, settings.pool_size) == (30.0, 3, 1)
    assert settings.credential_source == "none"


def test_a_stored_login_supplies_endpoint_and_key() -> None:
    store_login(STORED_ENDPOINT, "dotdo_sk_stored")
    settings = DotDo().settings
    assert (settings.endpoint, settings.api_key) == (STORED_ENDPOINT, "dotdo_sk_stored")
    assert settings.credential_source == "file"


def test_the_environment_beats_the_stored_login(monkeypatch: pytest.MonkeyPatch) -> None:
    store_login(STORED_ENDPOINT, "dotdo_sk_stored")
    monkeypatch.setenv("DOTDO_API_KEY", "dotdo_sk_env")
    settings = DotDo().settings
    assert (settings.endpoint, settings.api_key) == (STORED_ENDPOINT, "dotdo_sk_env")
    assert settings.credential_source == "env:DOTDO_API_KEY"


def test_an_argument_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    store_login(STORED_ENDPOINT, "dotdo_sk_stored")
    monkeypatch.setenv("DOTDO_API_KEY", "dotdo_sk_env")
    monkeypatch.setenv("DOTDO_TIMEOUT", "5")
    settings = DotDo(api_key="dotdo_sk_argument", timeout=9).settings
    assert (settings.api_key, settings.timeout) == ("dotdo_sk_argument", 9)
    assert settings.credential_source == "argument"


def test_a_stored_key_is_never_sent_to_another_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    store_login(STORED_ENDPOINT, "dotdo_sk_stored")
    monkeypatch.setenv("DOTDO_ENDPOINT", "wss://elsewhere.example/rpc")
    settings = DotDo().settings
    assert settings.api_key is None
    assert settings.credential_source == "none"


@pytest.mark.anyio
async def test_precedence_holds_against_the_real_platform(
    socket_platform: SocketPlatform, monkeypatch: pytest.MonkeyPatch, secret_name: str
) -> None:
    # The stored login is the server's own (good) key; a wrong key in the environment wins over
    # it and is refused; the good key as an argument wins over the environment and works.
    store_login(socket_platform.endpoint, socket_platform.api_key)
    stored_only = DotDo()
    assert await stored_only.secrets.get(secret_name, default="absent") == "absent"
    await stored_only.close()

    monkeypatch.setenv("DOTDO_API_KEY", "dotdo_sk_" + "x" * 43)
    from_env = DotDo(max_retries=0)
    with pytest.raises(AuthenticationError):
        await from_env.secrets.get(secret_name, default="absent")
    await from_env.close()

    from_argument = DotDo(api_key=socket_platform.api_key)
    assert await from_argument.secrets.get(secret_name, default="absent") == "absent"
    await from_argument.close()


# -- configure and with_options ------------------------------------------------------------------


@pytest.mark.anyio
async def test_configure_before_the_first_call_changes_settings(client: DotDo) -> None:
    client.configure(timeout=4, max_retries=1)
    assert (client.settings.timeout, client.settings.max_retries) == (4, 1)
    await client.secrets.get("ANY", default=None)
    assert client.is_connected


@pytest.mark.anyio
async def test_configure_after_connecting_names_with_options(client: DotDo) -> None:
    await client.secrets.get("ANY", default=None)
    with pytest.raises(ValidationError, match=r"with_options\(") as caught:
        client.configure(timeout=4)
    assert "already connected" in str(caught.value)
    assert client.settings.timeout == 30


def test_configure_refuses_an_unknown_setting() -> None:
    with pytest.raises(ValidationError, match="colour"):
        DotDo().configure(colour="blue")


@pytest.mark.anyio
async def test_configure_after_close_is_allowed(client: DotDo) -> None:
    await client.secrets.get("ANY", default=None)
    await client.close()
    client.configure(timeout=6)
    assert client.settings.timeout == 6


@pytest.mark.anyio
async def test_with_options_shares_the_session_and_changes_the_timeout(
    client: DotDo, secret_name: str
) -> None:
    await client.secrets.set(secret_name, "value")
    view = client.with_options(timeout=2, max_retries=0)
    assert await view.secrets.get(secret_name) == "value"
    assert view.settings.timeout == 2
    assert view.settings.max_retries == 0
    assert client.settings.timeout == 30
    assert client.settings.max_retries == 3
    assert view._pool() is client._pool()
    assert await view._session() is await client._session()
    assert len(client._shared.pools) == 1


@pytest.mark.anyio
async def test_a_with_options_timeout_applies_to_its_calls_only(
    client: DotDo, secret_name: str
) -> None:
    await client.secrets.set(secret_name, "value")
    hurried = client.with_options(timeout=1e-6)
    with pytest.raises(DotDoTimeoutError, match="1e-06"):
        await hurried.secrets.get(secret_name)
    assert await client.secrets.get(secret_name) == "value"


def test_with_options_validates_at_once() -> None:
    with pytest.raises(ValidationError, match="timeout"):
        DotDo(endpoint="memory://").with_options(timeout=-1)


def test_settings_repr_masks_credentials() -> None:
    client = DotDo(api_key="dotdo_sk_repr_check", headers={"X-Trace": "t0ken-in-header"})
    text = repr(client.settings) + str(client.settings) + repr(client.settings.masked())
    assert "dotdo_sk_repr_check" not in text
    assert "t0ken-in-header" not in text
    assert "api_key='***'" in text
