"""Settings resolution: arguments > environment > stored login > defaults, and no secret leaks."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dotdo._config import DEFAULT_ENDPOINT, Settings, parse_dsn, resolve_settings
from dotdo._credentials import StoredLogin
from dotdo.errors import ValidationError

KEY = "sk_test_4f9a2b7c1d"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.payload.signature"
STORED_KEY = "sk_stored_8e3d5a6f"
STORED_TOKEN = "eyJstored.jwt.value"
PROD = "wss://api.example.test/rpc"
NOW = 1_000_000.0
ROOT = Path(__file__).resolve().parents[1]


def resolve(
    arguments: dict[str, object] | None = None,
    environ: dict[str, str] | None = None,
    stored: StoredLogin | None = None,
) -> Settings:
    return resolve_settings(arguments or {}, environ or {}, stored, now=NOW)


def stored_login(**changes: object) -> StoredLogin:
    login = StoredLogin(endpoint=PROD, api_key=STORED_KEY, source="keychain")
    return dataclasses.replace(login, **changes)  # type: ignore[arg-type]


# -- defaults ------------------------------------------------------------------------------------


def test_defaults_point_at_the_local_dev_platform() -> None:
    """With nothing configured, the client targets the endpoint `dotdo dev` serves."""
    settings = resolve()
    assert settings.endpoint == DEFAULT_ENDPOINT == "ws://127.0.0.1:8787/rpc"


def test_defaults_match_the_documented_values() -> None:
    """Every tunable has its documented default."""
    settings = resolve()
    assert (settings.timeout, settings.max_retries, settings.retry_delay) == (30.0, 3, 0.1)
    assert (settings.retry_max_delay, settings.retry_multiplier) == (30.0, 2.0)
    assert (settings.pool_size, settings.pool_timeout, settings.cold_start_timeout) == (
        1,
        30.0,
        30.0,
    )
    assert settings.debug is False
    assert dict(settings.headers) == {}


def test_no_credentials_anywhere_gives_source_none() -> None:
    """With no key or token configured, the settings say so."""
    settings = resolve()
    assert (settings.api_key, settings.access_token, settings.credential_source) == (
        None,
        None,
        "none",
    )


# -- precedence of tunables ----------------------------------------------------------------------

# (setting, argument value, variable, variable text, value the variable gives)
TUNABLES = [
    (
        "endpoint",
        "wss://arg.test/rpc",
        "DOTDO_ENDPOINT",
        "wss://env.test/rpc",
        "wss://env.test/rpc",
    ),
    ("timeout", 5.0, "DOTDO_TIMEOUT", "12.5", 12.5),
    ("max_retries", 0, "DOTDO_MAX_RETRIES", "5", 5),
    ("retry_delay", 0.0, "DOTDO_RETRY_DELAY", "0.5", 0.5),
    ("retry_max_delay", 60.0, "DOTDO_RETRY_MAX_DELAY", "10", 10.0),
    ("retry_multiplier", 1.0, "DOTDO_RETRY_MULTIPLIER", "3", 3.0),
    ("pool_size", 2, "DOTDO_POOL_SIZE", "8", 8),
    ("pool_timeout", 1.0, "DOTDO_POOL_TIMEOUT", "4", 4.0),
    ("debug", False, "DOTDO_DEBUG", "true", True),
    ("cold_start_timeout", 90.0, "DOTDO_COLD_START_TIMEOUT", "45", 45.0),
]


@pytest.mark.parametrize(("name", "argument", "variable", "text", "_"), TUNABLES)
def test_argument_beats_environment(
    name: str, argument: object, variable: str, text: str, _: object
) -> None:
    """A setting passed in code wins over its DOTDO_* variable."""
    settings = resolve({name: argument}, {variable: text})
    assert getattr(settings, name) == argument


@pytest.mark.parametrize(("name", "_", "variable", "text", "expected"), TUNABLES)
def test_environment_beats_default(
    name: str, _: object, variable: str, text: str, expected: object
) -> None:
    """A DOTDO_* variable wins over the default."""
    settings = resolve({}, {variable: text})
    assert getattr(settings, name) == expected


def test_none_argument_counts_as_not_given() -> None:
    """`timeout=None` leaves the environment's value in force."""
    assert resolve({"timeout": None}, {"DOTDO_TIMEOUT": "7"}).timeout == 7.0


def test_empty_variable_counts_as_unset() -> None:
    """`DOTDO_TIMEOUT=` is the same as not setting it."""
    assert resolve({}, {"DOTDO_TIMEOUT": ""}).timeout == 30.0


def test_headers_come_from_arguments() -> None:
    """Extra headers are accepted as a mapping of strings."""
    settings = resolve({"headers": {"X-Trace": "abc"}})
    assert dict(settings.headers) == {"X-Trace": "abc"}


def test_environment_endpoint_beats_stored_login_endpoint() -> None:
    """DOTDO_ENDPOINT wins over the endpoint of the stored login."""
    settings = resolve({}, {"DOTDO_ENDPOINT": "wss://env.test/rpc"}, stored_login())
    assert settings.endpoint == "wss://env.test/rpc"


def test_stored_login_endpoint_beats_default() -> None:
    """After `dotdo login`, the client targets the platform logged in to."""
    assert resolve(stored=stored_login()).endpoint == PROD


def test_in_process_platform_is_used_only_when_named() -> None:
    """`memory://` and `local://PATH` are accepted as endpoints, and never chosen otherwise."""
    assert resolve({}, {"DOTDO_ENDPOINT": "memory://"}).endpoint == "memory://"
    assert resolve({"endpoint": "local:///tmp/p.db"}).endpoint == "local:///tmp/p.db"
    assert resolve().endpoint.startswith("ws://")


# -- precedence of credentials -------------------------------------------------------------------


def test_argument_key_beats_environment_token() -> None:
    """Credentials come as a pair from the highest layer that has any."""
    settings = resolve({"api_key": KEY}, {"DOTDO_TOKEN": TOKEN})
    assert (settings.api_key, settings.access_token) == (KEY, None)
    assert settings.credential_source == "argument"


def test_token_beats_api_key_in_the_environment() -> None:
    """With both set, the token is the credential in use and the key is kept for re-exchange."""
    settings = resolve({}, {"DOTDO_TOKEN": TOKEN, "DOTDO_API_KEY": KEY})
    assert (settings.access_token, settings.api_key) == (TOKEN, KEY)
    assert settings.credential_source == "env:DOTDO_TOKEN"


def test_environment_api_key_is_reported_as_its_source() -> None:
    """A key from DOTDO_API_KEY is labelled with that variable."""
    settings = resolve({}, {"DOTDO_API_KEY": KEY})
    assert (settings.api_key, settings.credential_source) == (KEY, "env:DOTDO_API_KEY")


def test_access_token_variable_is_an_alias_for_token() -> None:
    """DOTDO_ACCESS_TOKEN works like DOTDO_TOKEN and is reported by its own name."""
    settings = resolve({}, {"DOTDO_ACCESS_TOKEN": TOKEN})
    assert (settings.access_token, settings.credential_source) == (TOKEN, "env:DOTDO_ACCESS_TOKEN")


def test_conflicting_token_variables_are_refused() -> None:
    """DOTDO_TOKEN and DOTDO_ACCESS_TOKEN with different values is a mistake, not a choice."""
    with pytest.raises(ValidationError, match="DOTDO_TOKEN and DOTDO_ACCESS_TOKEN"):
        resolve({}, {"DOTDO_TOKEN": TOKEN, "DOTDO_ACCESS_TOKEN": TOKEN + "x"})


def test_environment_credentials_beat_stored_login() -> None:
    """A key in the environment wins over the stored login's key."""
    settings = resolve({}, {"DOTDO_API_KEY": KEY}, stored_login())
    assert (settings.api_key, settings.credential_source) == (KEY, "env:DOTDO_API_KEY")


def test_stored_login_beats_no_credentials() -> None:
    """The stored key is used, labelled with where it was found."""
    settings = resolve(stored=stored_login())
    assert (settings.api_key, settings.credential_source) == (STORED_KEY, "keychain")


def test_stored_login_from_file_is_labelled_file() -> None:
    """A login read from the fallback file says so."""
    assert resolve(stored=stored_login(source="file")).credential_source == "file"


def test_stored_fresh_token_is_used() -> None:
    """A cached JWT with time left saves the CLI an exchange."""
    login = stored_login(token=STORED_TOKEN, expires_at=NOW + 3600)
    assert resolve(stored=login).access_token == STORED_TOKEN


def test_stored_token_near_expiry_is_dropped() -> None:
    """A cached JWT about to expire is not used; the key remains for a fresh exchange."""
    login = stored_login(token=STORED_TOKEN, expires_at=NOW + 30)
    settings = resolve(stored=login)
    assert (settings.access_token, settings.api_key) == (None, STORED_KEY)


def test_stored_credentials_are_not_sent_to_another_endpoint() -> None:
    """A stored key is bound to its endpoint: pointing elsewhere leaves the client keyless."""
    settings = resolve({"endpoint": "wss://elsewhere.test/rpc"}, {}, stored_login())
    assert (settings.api_key, settings.credential_source) == (None, "none")


def test_stored_credentials_are_used_when_endpoint_names_their_platform() -> None:
    """Naming the stored login's own endpoint explicitly still uses its key."""
    settings = resolve({"endpoint": PROD + "/"}, {}, stored_login())
    assert settings.api_key == STORED_KEY


def test_stored_login_loader_is_skipped_when_environment_has_everything() -> None:
    """A fully configured environment (CI) never touches the keychain."""

    def loader() -> StoredLogin | None:
        raise AssertionError("the stored login should not be loaded")

    environ = {"DOTDO_API_KEY": KEY, "DOTDO_ENDPOINT": PROD}
    assert resolve_settings({}, environ, loader).api_key == KEY


def test_stored_login_loader_is_called_when_needed() -> None:
    """A loader function stands in for the stored login when credentials are missing."""
    assert resolve_settings({}, {}, stored_login, now=NOW).api_key == STORED_KEY


# -- DSN -----------------------------------------------------------------------------------------


def test_dsn_gives_key_host_and_port_over_tls() -> None:
    """The userinfo is the key, and the endpoint defaults to wss:// and the /rpc path."""
    settings = resolve({}, {"DOTDO_URL": f"dotdo://{KEY}@api.example.test:8443"})
    assert (settings.api_key, settings.endpoint) == (KEY, "wss://api.example.test:8443/rpc")
    assert settings.credential_source == "env:DOTDO_URL"


def test_dsn_ssl_false_selects_plain_websocket() -> None:
    """`ssl=false` is for a local platform without TLS."""
    settings = resolve({}, {"DOTDO_URL": "dotdo://127.0.0.1:8787?ssl=false"})
    assert settings.endpoint == "ws://127.0.0.1:8787/rpc"


def test_dsn_query_parameters_set_settings() -> None:
    """Query keys are setting names."""
    dsn = "dotdo://k@h:1?timeout=10&max_retries=1&debug=yes&pool_size=4"
    settings = resolve({}, {"DOTDO_URL": dsn})
    assert (settings.timeout, settings.max_retries, settings.debug, settings.pool_size) == (
        10.0,
        1,
        True,
        4,
    )


def test_dsn_path_is_kept() -> None:
    """A path in the DSN replaces the default /rpc."""
    assert resolve({}, {"DOTDO_URL": "dotdo://h/v2/rpc"}).endpoint == "wss://h/v2/rpc"


def test_dsn_key_is_percent_decoded() -> None:
    """A key with reserved characters can be written percent-encoded."""
    assert parse_dsn("dotdo://a%2Fb%40c@h")["api_key"][0] == "a/b@c"


def test_dsn_handles_ipv6_hosts() -> None:
    """A bracketed IPv6 literal keeps its brackets in the endpoint."""
    assert resolve({}, {"DOTDO_URL": "dotdo://[::1]:8787?ssl=0"}).endpoint == "ws://[::1]:8787/rpc"


def test_explicit_variable_beats_dsn() -> None:
    """DOTDO_TIMEOUT overrides the DSN's timeout, DOTDO_API_KEY its key."""
    environ = {
        "DOTDO_URL": "dotdo://dsnkey@h?timeout=10",
        "DOTDO_TIMEOUT": "3",
        "DOTDO_API_KEY": KEY,
    }
    settings = resolve({}, environ)
    assert (settings.timeout, settings.api_key, settings.credential_source) == (
        3.0,
        KEY,
        "env:DOTDO_API_KEY",
    )


@pytest.mark.parametrize(
    "dsn",
    [
        f"https://{KEY}@h:1",
        f"{KEY}",
        f"dotdo://{KEY}@",
        f"dotdo://{KEY}@h:99999",
        f"dotdo://{KEY}@h:port",
        f"dotdo://{KEY}@[::1",
        f"dotdo://{KEY}@h?colour=blue",
        f"dotdo://{KEY}@h?timeout=1&timeout=2",
        f"dotdo://{KEY}@h?ssl=maybe",
        f"dotdo://{KEY}@h?timeout=ten",
        f"dotdo://{KEY}@h#frag",
    ],
)
def test_bad_dsn_is_refused_naming_dotdo_url_without_the_key(dsn: str) -> None:
    """A malformed DSN names DOTDO_URL and never echoes the key it holds."""
    with pytest.raises(ValidationError) as caught:
        resolve({}, {"DOTDO_URL": dsn})
    assert "DOTDO_URL" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


# -- invalid values ------------------------------------------------------------------------------


def test_invalid_timeout_message_names_variable_and_value() -> None:
    """The message says which variable is wrong and what it held."""
    with pytest.raises(ValidationError) as caught:
        resolve({}, {"DOTDO_TIMEOUT": "ten"})
    assert caught.value.message == "DOTDO_TIMEOUT must be a number of seconds, got 'ten'"
    assert caught.value.details == {"setting": "DOTDO_TIMEOUT"}


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("DOTDO_TIMEOUT", "0"),
        ("DOTDO_TIMEOUT", "nan"),
        ("DOTDO_TIMEOUT", "inf"),
        ("DOTDO_MAX_RETRIES", "-1"),
        ("DOTDO_MAX_RETRIES", "2.5"),
        ("DOTDO_RETRY_DELAY", "-0.1"),
        ("DOTDO_RETRY_MULTIPLIER", "0.5"),
        ("DOTDO_POOL_SIZE", "0"),
        ("DOTDO_DEBUG", "maybe"),
        ("DOTDO_ENDPOINT", "ftp://files.test"),
        ("DOTDO_ENDPOINT", "wss://h/rpc?x=1"),
        ("DOTDO_ENDPOINT", "memory://other"),
        ("DOTDO_ENDPOINT", "local://"),
    ],
)
def test_invalid_variable_is_named_with_its_value(variable: str, text: str) -> None:
    """Each bad non-secret value is refused with the variable and the value in the message."""
    with pytest.raises(ValidationError) as caught:
        resolve({}, {variable: text})
    assert caught.value.message.startswith(f"{variable} ")
    assert repr(text) in caught.value.message


@pytest.mark.parametrize(
    ("name", "value"),
    [("timeout", "ten"), ("timeout", True), ("pool_size", 1.5), ("debug", "sometimes")],
)
def test_invalid_argument_is_named_by_its_argument_name(name: str, value: object) -> None:
    """Errors about values passed in code name the keyword argument."""
    with pytest.raises(ValidationError, match=f"^{name} "):
        resolve({name: value})


def test_unknown_argument_is_refused() -> None:
    """A misspelt setting fails loudly instead of being ignored."""
    with pytest.raises(ValidationError, match="unknown setting 'timout'"):
        resolve({"timout": 3})


def test_retry_max_delay_below_retry_delay_is_refused() -> None:
    """The backoff cap cannot be smaller than the first delay."""
    with pytest.raises(ValidationError, match="retry_max_delay"):
        resolve({"retry_delay": 5, "retry_max_delay": 1})


def test_endpoint_carrying_credentials_is_refused() -> None:
    """A key belongs in DOTDO_API_KEY, not in the endpoint URL."""
    with pytest.raises(ValidationError, match="must not contain credentials"):
        resolve({}, {"DOTDO_ENDPOINT": "wss://user:pw@h/rpc"})


def test_header_with_line_break_is_refused() -> None:
    """A header value cannot smuggle a second header in."""
    with pytest.raises(ValidationError, match="headers"):
        resolve({"headers": {"X-A": "1\r\nX-B: 2"}})


def test_stored_login_with_bad_endpoint_is_refused() -> None:
    """A damaged stored endpoint is reported as the stored login's."""
    with pytest.raises(ValidationError, match="stored login"):
        resolve(stored=stored_login(endpoint="nonsense"))


# -- secrets never leak --------------------------------------------------------------------------


def full_settings() -> Settings:
    return resolve(
        {"api_key": KEY, "access_token": TOKEN, "headers": {"Authorization": "Bearer hunter2"}}
    )


def test_secrets_never_appear_in_repr_or_str() -> None:
    """repr() and str() of settings show neither key, token nor header values."""
    settings = full_settings()
    for text in (repr(settings), str(settings), f"{settings}"):
        for secret in (KEY, TOKEN, "hunter2"):
            assert secret not in text


def test_masked_shows_set_secrets_as_stars_and_unset_as_none() -> None:
    """The masked view tells whether a credential is set, never what it is."""
    shown = full_settings().masked()
    assert (shown["api_key"], shown["access_token"]) == ("***", "***")
    assert shown["headers"] == {"Authorization": "***"}
    assert resolve().masked()["api_key"] is None


@pytest.mark.parametrize(
    ("arguments", "environ"),
    [
        ({}, {"DOTDO_API_KEY": f"{KEY} trailing"}),
        ({}, {"DOTDO_TOKEN": f"{TOKEN}\x00"}),
        ({}, {"DOTDO_TOKEN": TOKEN, "DOTDO_ACCESS_TOKEN": KEY}),
        ({}, {"DOTDO_ENDPOINT": f"wss://{KEY}@h/rpc"}),
        ({}, {"DOTDO_URL": f"dotdo://{KEY}@h?retry_delay=x"}),
        ({"api_key": f"{KEY}\n{KEY}"}, {}),
        ({"headers": {"Authorization": f"Bearer {KEY}\r\n"}}, {}),
    ],
)
def test_secrets_never_appear_in_error_messages(
    arguments: dict[str, object], environ: dict[str, str]
) -> None:
    """Whatever is wrong, the message and repr of the error hold no key or token."""
    with pytest.raises(ValidationError) as caught:
        resolve(arguments, environ)
    for text in (str(caught.value), repr(caught.value), str(caught.value.details)):
        assert KEY not in text
        assert TOKEN not in text


def test_stored_login_repr_masks_secrets() -> None:
    """A StoredLogin prints its endpoint but not its key or token."""
    text = repr(stored_login(token=STORED_TOKEN, expires_at=NOW))
    assert PROD in text
    assert STORED_KEY not in text
    assert STORED_TOKEN not in text


# -- Settings itself -----------------------------------------------------------------------------


def test_settings_are_immutable() -> None:
    """Neither fields nor headers can be changed in place."""
    settings = resolve({"headers": {"X-A": "1"}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.timeout = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.headers["X-A"] = "2"  # type: ignore[index]


def test_settings_validate_when_built_directly() -> None:
    """Building Settings by hand applies the same checks, naming the field."""
    with pytest.raises(ValidationError, match=r"^pool_size "):
        Settings(pool_size=0)


def test_with_changes_keeps_other_settings() -> None:
    """Only the named settings change."""
    base = resolve({"timeout": 5, "api_key": KEY})
    changed = base.with_changes(max_retries=0)
    assert (changed.timeout, changed.max_retries, changed.api_key) == (5.0, 0, KEY)


def test_with_changes_validates_like_arguments() -> None:
    """Bad values are refused, naming the keyword."""
    with pytest.raises(ValidationError, match=r"^timeout must be a number of seconds, got 'x'"):
        resolve().with_changes(timeout="x")


def test_with_changes_refuses_unknown_names() -> None:
    """A misspelt option fails loudly."""
    with pytest.raises(ValidationError, match="unknown setting"):
        resolve().with_changes(retries=1)


def test_with_changes_credential_replaces_the_pair() -> None:
    """A new key drops the old token, and the source becomes `argument`."""
    base = resolve({}, {"DOTDO_TOKEN": TOKEN})
    changed = base.with_changes(api_key=KEY)
    assert (changed.api_key, changed.access_token, changed.credential_source) == (
        KEY,
        None,
        "argument",
    )


def test_settings_compare_by_value() -> None:
    """Two resolutions of the same inputs are equal (idempotent configure)."""
    assert resolve({"headers": {"A": "1"}}) == resolve({"headers": {"A": "1"}})


# -- import cost ---------------------------------------------------------------------------------


def run_python(code: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter that imports dotdo from this checkout."""
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", ""), **environ}
    command = [sys.executable, "-c", code]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)


def test_import_reads_no_environment() -> None:
    """A bad DOTDO_TIMEOUT does not break `import dotdo._config`; it fails only when resolved."""
    result = run_python("import dotdo._config", DOTDO_TIMEOUT="ten")
    assert result.returncode == 0, result.stderr


def test_import_does_not_load_cryptography_or_keyring() -> None:
    """`import dotdo._config` leaves the heavy credential libraries unloaded."""
    code = (
        "import sys, dotdo._config\n"
        "heavy = [m for m in ('cryptography', 'keyring', 'platformdirs') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = run_python(code)
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stderr
