"""Client settings, resolved from arguments, the environment, a stored login and defaults.

Precedence, highest first:

    1. arguments     ``DotDo(api_key=..., timeout=...)``, ``with_options(...)``; ``None`` = unset
    2. environment   ``DOTDO_<SETTING>`` variables, then the ``DOTDO_URL`` DSN beneath them
    3. stored login  what ``dotdo login`` saved (keychain, then file): endpoint, key, cached JWT
    4. defaults      the local dev platform ``ws://127.0.0.1:8787/rpc`` that ``dotdo dev`` serves

Variables: ``DOTDO_API_KEY``, ``DOTDO_TOKEN`` (alias ``DOTDO_ACCESS_TOKEN``), ``DOTDO_URL``, and
``DOTDO_<NAME>`` for every tunable: ``DOTDO_ENDPOINT``, ``DOTDO_TIMEOUT``, ``DOTDO_MAX_RETRIES``,
``DOTDO_RETRY_DELAY``, ``DOTDO_RETRY_MAX_DELAY``, ``DOTDO_RETRY_MULTIPLIER``, ``DOTDO_POOL_SIZE``,
``DOTDO_POOL_TIMEOUT``, ``DOTDO_DEBUG``, ``DOTDO_COLD_START_TIMEOUT``. Extra ``headers`` can only be
passed in code.

Rules worth knowing:

- Each tunable setting is resolved on its own, by the order above.
- Credentials are resolved as a *pair* (access token, API key) from the first layer that has
  either one; lower layers are not mixed in. Within a layer the token wins over the API key, and
  ``credential_source`` names where the winning credential came from.
- ``DOTDO_URL`` (``dotdo://KEY@host:port/path?timeout=10&ssl=false``) is one compact way to set
  several things at once, so an explicit ``DOTDO_*`` variable beside it wins: the specific beats
  the general, and a CI job can override one part of a shared DSN.
- A stored login's credentials are bound to its endpoint: they are used only when the resolved
  endpoint is the one they were saved for, so a ``DOTDO_ENDPOINT`` never receives a key that was
  issued elsewhere. Its endpoint still fills in when none is given, and its cached JWT is used
  only with more than a minute left.
- In ``DOTDO_URL`` the key is the whole userinfo; percent-encode ``/ ? # @`` inside it.
- The in-process platforms (``memory://``, ``local://PATH``) are used only when the endpoint names
  them. No variable switches a safety check off.
- An empty environment variable counts as unset.
- The environment is read only when :func:`resolve_settings` is called, never at import.

Invalid values raise :class:`~dotdo.errors.ValidationError` naming the setting and, for
non-secret settings, the bad value. Secrets (API keys, tokens, header values) are never echoed:
reprs show ``'***'`` in their place. A prefix of the key is not shown either, because no part of
an API key's format is guaranteed to be non-secret.
"""

from __future__ import annotations

import dataclasses
import math
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, unquote, urlsplit

from dotdo.errors import ValidationError

if TYPE_CHECKING:
    from dotdo._credentials import StoredLogin

__all__ = ["DEFAULT_ENDPOINT", "Settings", "parse_dsn", "resolve_settings"]

#: The endpoint ``dotdo dev`` serves by default.
DEFAULT_ENDPOINT: Final = "ws://127.0.0.1:8787/rpc"

#: What a secret looks like in a repr.
MASK: Final = "***"

#: A cached JWT with less than this many seconds left is not worth using.
STORED_TOKEN_MARGIN: Final = 60.0

_CREDENTIAL_SOURCES: Final = frozenset(
    {
        "argument",
        "env:DOTDO_TOKEN",
        "env:DOTDO_ACCESS_TOKEN",
        "env:DOTDO_API_KEY",
        "env:DOTDO_URL",
        "keychain",
        "local-platform",  # memory:// and local://: the in-process dev tenant's key
        "login",  # auth.login(): a user's JWT
        "file",
        "none",
    }
)
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_NETWORK_SCHEMES: Final = ("ws", "wss", "http", "https")


# ---------------------------------------------------------------------------------------------
# Converters: each takes a raw value and the label to name in errors, and returns the clean value.


def _shown(value: object) -> str:
    """A non-secret bad value, quoted and cut short so a message stays readable."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _invalid(label: str, message: str) -> ValidationError:
    return ValidationError(f"{label} {message}", details={"setting": label})


def _number(value: object, label: str, what: str) -> float:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _invalid(label, f"must be {what}, got {_shown(value)}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise _invalid(label, f"must be {what}, got {_shown(value)}")
    if not math.isfinite(number):
        raise _invalid(label, f"must be {what}, got {_shown(value)}")
    return number


def _seconds(value: object, label: str) -> float:
    """A positive, finite number of seconds."""
    seconds = _number(value, label, "a number of seconds")
    if seconds <= 0:
        raise _invalid(label, f"must be a positive number of seconds, got {_shown(value)}")
    return seconds


def _delay(value: object, label: str) -> float:
    """A delay in seconds; zero is allowed."""
    seconds = _number(value, label, "a number of seconds")
    if seconds < 0:
        raise _invalid(label, f"must be zero or more seconds, got {_shown(value)}")
    return seconds


def _multiplier(value: object, label: str) -> float:
    factor = _number(value, label, "a number")
    if factor < 1:
        raise _invalid(label, f"must be a number of at least 1, got {_shown(value)}")
    return factor


def _whole(value: object, label: str, minimum: int) -> int:
    what = f"a whole number of at least {minimum}"
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise _invalid(label, f"must be {what}, got {_shown(value)}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _invalid(label, f"must be {what}, got {_shown(value)}")
    if number < minimum:
        raise _invalid(label, f"must be {what}, got {_shown(value)}")
    return number


def _retries(value: object, label: str) -> int:
    return _whole(value, label, 0)


def _pool_size(value: object, label: str) -> int:
    return _whole(value, label, 1)


def _flag(value: object, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _invalid(
        label, f"must be one of 1, true, yes, on, 0, false, no, off, got {_shown(value)}"
    )


def _secret(value: object, label: str) -> str:
    """A credential: a non-empty string with no inner whitespace. The value is never echoed."""
    if not isinstance(value, str):
        raise _invalid(label, f"must be a string, got {type(value).__name__}")
    secret = value.strip()
    if not secret:
        raise _invalid(label, "must not be empty")
    if any(ch.isspace() or not ch.isprintable() for ch in secret):
        raise _invalid(label, "contains whitespace or control characters (value not shown)")
    return secret


def _optional_secret(value: object, label: str) -> str | None:
    return None if value is None else _secret(value, label)


def _endpoint(value: object, label: str) -> str:
    """``ws(s)://`` or ``http(s)://`` host URL, ``memory://``, or ``local://PATH``."""
    if not isinstance(value, str):
        raise _invalid(label, f"must be a URL string, got {type(value).__name__}")
    url = value.strip()
    if url == "memory://" or (url.startswith("local://") and len(url) > len("local://")):
        return url
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise _invalid(label, "must not contain credentials; pass the API key separately")
    if parts.scheme not in _NETWORK_SCHEMES or not parts.hostname:
        expected = "a ws://, wss://, http:// or https:// URL, memory://, or local://PATH"
        raise _invalid(label, f"must be {expected}, got {_shown(value)}")
    if parts.query or parts.fragment:
        raise _invalid(label, f"must not have a query string or fragment, got {_shown(value)}")
    try:
        parts.port  # noqa: B018 -- urlsplit checks the port only when it is read
    except ValueError:
        raise _invalid(label, f"has an invalid port, got {_shown(value)}") from None
    return url


def _headers(value: object, label: str) -> Mapping[str, str]:
    """Extra headers: str to str, no line breaks. Values are never echoed (they may be secrets)."""
    if not isinstance(value, Mapping):
        kind = type(value).__name__
        raise _invalid(label, f"must be a mapping of header names to values, got {kind}")
    for name, header in value.items():
        if not isinstance(name, str) or not name or any(c in name for c in "\r\n:"):
            raise _invalid(label, f"has an invalid header name {_shown(name)}")
        if not isinstance(header, str) or "\r" in header or "\n" in header:
            raise _invalid(label, f"{name!r} must be one line of text (value not shown)")
    return types.MappingProxyType(dict(value))


_Converter = Callable[[object, str], object]

#: Every tunable setting, its converter, and its environment variable.
_TUNABLES: Final[dict[str, tuple[_Converter, str | None]]] = {
    "endpoint": (_endpoint, "DOTDO_ENDPOINT"),
    "headers": (_headers, None),
    "timeout": (_seconds, "DOTDO_TIMEOUT"),
    "max_retries": (_retries, "DOTDO_MAX_RETRIES"),
    "retry_delay": (_delay, "DOTDO_RETRY_DELAY"),
    "retry_max_delay": (_delay, "DOTDO_RETRY_MAX_DELAY"),
    "retry_multiplier": (_multiplier, "DOTDO_RETRY_MULTIPLIER"),
    "pool_size": (_pool_size, "DOTDO_POOL_SIZE"),
    "pool_timeout": (_seconds, "DOTDO_POOL_TIMEOUT"),
    "debug": (_flag, "DOTDO_DEBUG"),
    "cold_start_timeout": (_seconds, "DOTDO_COLD_START_TIMEOUT"),
}
_CREDENTIALS: Final = ("api_key", "access_token")
_ARGUMENT_NAMES: Final = frozenset(_TUNABLES) | frozenset(_CREDENTIALS)


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Every resolved client setting, immutable. Build it with :func:`resolve_settings`.

    Constructing it directly validates every field, naming the field in any error. The repr and
    :meth:`masked` show ``'***'`` for the API key, the access token and every header value.
    """

    api_key: str | None = None
    access_token: str | None = None
    endpoint: str = DEFAULT_ENDPOINT
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    timeout: float = 30.0
    max_retries: int = 3
    retry_delay: float = 0.1
    retry_max_delay: float = 30.0
    retry_multiplier: float = 2.0
    pool_size: int = 1
    pool_timeout: float = 30.0
    debug: bool = False
    cold_start_timeout: float = 30.0
    credential_source: str = "none"

    def __post_init__(self) -> None:
        for name, (convert, _) in _TUNABLES.items():
            object.__setattr__(self, name, convert(getattr(self, name), name))
        for name in _CREDENTIALS:
            object.__setattr__(self, name, _optional_secret(getattr(self, name), name))
        if self.retry_max_delay < self.retry_delay:
            msg = (
                f"({self.retry_max_delay}) must be at least retry_delay ({self.retry_delay}); "
                "check DOTDO_RETRY_MAX_DELAY and DOTDO_RETRY_DELAY too"
            )
            raise _invalid("retry_max_delay", msg)
        if self.credential_source not in _CREDENTIAL_SOURCES:
            known = ", ".join(sorted(_CREDENTIAL_SOURCES))
            msg = f"must be one of {known}, got {_shown(self.credential_source)}"
            raise _invalid("credential_source", msg)

    def masked(self) -> dict[str, object]:
        """Every setting by name, with secrets replaced by ``'***'`` (unset ones stay ``None``)."""
        shown: dict[str, object] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in _CREDENTIALS:
                value = None if value is None else MASK
            elif item.name == "headers":
                value = dict.fromkeys(value, MASK)
            shown[item.name] = value
        return shown

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={value!r}" for name, value in self.masked().items())
        return f"Settings({body})"

    __str__ = __repr__

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some settings changed, validated like arguments (for ``with_options``).

        ``None`` means "leave as is". Passing ``api_key`` or ``access_token`` replaces the whole
        credential pair, as arguments do in :func:`resolve_settings`.

        Raises:
            ValidationError: a name is not a setting, or a value is invalid.
        """
        given = _given_arguments(changes)
        if any(name in given for name in _CREDENTIALS):
            token, key = given.get("access_token"), given.get("api_key")
            given.update(access_token=token, api_key=key)
            given["credential_source"] = "argument"
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


def _given_arguments(arguments: Mapping[str, object]) -> dict[str, object]:
    unknown = sorted(set(arguments) - _ARGUMENT_NAMES)
    if unknown:
        known = ", ".join(sorted(_ARGUMENT_NAMES))
        raise ValidationError(f"unknown setting {unknown[0]!r}; the settings are {known}")
    return {name: value for name, value in arguments.items() if value is not None}


# ---------------------------------------------------------------------------------------------
# DSN


_DSN_FORM: Final = "dotdo://KEY@host:port/path?timeout=10&ssl=false"
_DSN_PARAMETERS: Final = (frozenset(_TUNABLES) - {"endpoint", "headers"}) | {"ssl"}


def parse_dsn(dsn: str, label: str = "DOTDO_URL") -> dict[str, tuple[object, str]]:
    """Split a ``dotdo://`` DSN into raw settings, each paired with the label errors will use.

    The key is the whole userinfo (percent-decoded); ``ssl=false`` selects ``ws://`` (default
    ``wss://``); the path defaults to ``/rpc``; other query parameters are settings by name.

    Raises:
        ValidationError: the DSN is malformed. The message never contains the DSN itself, since
            it may hold a key.
    """
    malformed = _invalid(label, f"must look like {_DSN_FORM} (value not shown: it may hold a key)")
    try:
        parts = urlsplit(dsn.strip())
        userinfo, _, hostport = parts.netloc.rpartition("@")
        host = urlsplit(f"//{hostport}")
        port_ok = host.port is None or host.port > 0
    except ValueError:
        raise malformed from None
    if parts.scheme != "dotdo" or not host.hostname or parts.fragment:
        raise malformed
    if not port_ok:
        raise _invalid(label, f"has an invalid port; expected {_DSN_FORM}")
    raw = _dsn_parameters(parts.query, label)
    use_tls = _flag(raw.pop("ssl")[0], f"{label} parameter 'ssl'") if "ssl" in raw else True
    path = parts.path if parts.path not in ("", "/") else "/rpc"
    raw["endpoint"] = (f"{'wss' if use_tls else 'ws'}://{hostport}{path}", label)
    if userinfo:
        raw["api_key"] = (unquote(userinfo), label)
    return raw


def _dsn_parameters(query: str, label: str) -> dict[str, tuple[object, str]]:
    try:
        pairs = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _invalid(label, f"has a malformed query string; expected {_DSN_FORM}") from None
    raw: dict[str, tuple[object, str]] = {}
    for name, values in pairs.items():
        if name not in _DSN_PARAMETERS:
            known = ", ".join(sorted(_DSN_PARAMETERS))
            raise _invalid(label, f"has an unknown parameter {_shown(name)}; known: {known}")
        if len(values) > 1:
            raise _invalid(label, f"gives the parameter {name!r} more than once")
        raw[name] = (values[0], f"{label} parameter {name!r}")
    return raw


# ---------------------------------------------------------------------------------------------
# Resolution


_Credentials = tuple[str | None, str | None, str]  # (access_token, api_key, source)
_TOKEN_VARIABLES: Final = ("DOTDO_TOKEN", "DOTDO_ACCESS_TOKEN")
_KEY_VARIABLES: Final = ("DOTDO_API_KEY", "DOTDO_URL")


def resolve_settings(
    arguments: Mapping[str, object],
    environ: Mapping[str, str],
    stored: StoredLogin | Callable[[], StoredLogin | None] | None = None,
    *,
    now: float | None = None,
) -> Settings:
    """Resolve every setting: arguments > environment > stored login > defaults.

    Args:
        arguments: settings passed in code; a ``None`` value means "not given".
        environ: usually ``os.environ``; read here and nowhere else.
        stored: the saved login, or a function that loads it. A function is called only when the
            stored login could matter, so a fully configured environment never touches the
            keychain.
        now: the current Unix time, for judging a stored JWT's freshness (default: the clock).

    Raises:
        ValidationError: an argument, variable, DSN or stored value is invalid; the message names
            it and never contains a secret.
    """
    given = _given_arguments(arguments)
    environment, secrets = _read_environment(environ)
    values = {name: _pick(name, given, environment) for name in _TUNABLES}
    values = {name: value for name, value in values.items() if value is not None}
    credentials = _credentials_from_arguments(given) or _credentials_from_environment(secrets)
    if "endpoint" not in values or credentials is None:
        login = stored() if callable(stored) else stored
        if login is not None:
            credentials = _apply_stored_login(login, values, credentials, now)
    token, key, source = credentials or (None, None, "none")
    return Settings(**values, access_token=token, api_key=key, credential_source=source)  # type: ignore[arg-type]


def _pick(
    name: str, given: Mapping[str, object], environment: Mapping[str, tuple[object, str]]
) -> object:
    convert = _TUNABLES[name][0]
    if name in given:
        return convert(given[name], name)
    if name in environment:
        raw, label = environment[name]
        return convert(raw, label)
    return None


def _read_environment(
    environ: Mapping[str, str],
) -> tuple[dict[str, tuple[object, str]], dict[str, str]]:
    """Raw settings (``DOTDO_URL`` overlaid by explicit variables) and raw credentials by label."""
    dsn = environ.get("DOTDO_URL", "")
    settings = parse_dsn(dsn) if dsn.strip() else {}
    secrets: dict[str, str] = {}
    if "api_key" in settings:
        secrets["DOTDO_URL"] = str(settings.pop("api_key")[0])
    for name, (_, variable) in _TUNABLES.items():
        if variable and environ.get(variable, "").strip():
            settings[name] = (environ[variable], variable)
    for variable in (*_TOKEN_VARIABLES, "DOTDO_API_KEY"):
        if environ.get(variable, "").strip():
            secrets[variable] = environ[variable]
    return settings, secrets


def _credentials_from_arguments(given: Mapping[str, object]) -> _Credentials | None:
    token = _optional_secret(given.get("access_token"), "access_token")
    key = _optional_secret(given.get("api_key"), "api_key")
    return (token, key, "argument") if token or key else None


def _credentials_from_environment(secrets: Mapping[str, str]) -> _Credentials | None:
    tokens = {v: _secret(secrets[v], v) for v in _TOKEN_VARIABLES if v in secrets}
    if len(set(tokens.values())) > 1:
        msg = "DOTDO_TOKEN and DOTDO_ACCESS_TOKEN are set to different tokens; unset one of them"
        raise ValidationError(msg, details={"setting": "DOTDO_TOKEN"})
    key_variable = next((v for v in _KEY_VARIABLES if v in secrets), None)
    key = _secret(secrets[key_variable], key_variable) if key_variable else None
    if tokens:
        variable, token = next(iter(tokens.items()))
        return token, key, f"env:{variable}"
    if key_variable:
        return None, key, f"env:{key_variable}"
    return None


def _apply_stored_login(
    login: StoredLogin,
    values: dict[str, object],
    credentials: _Credentials | None,
    now: float | None,
) -> _Credentials | None:
    """Fill the endpoint from the login, and its credentials if they belong to that endpoint."""
    stored_endpoint = _endpoint(login.endpoint, "the stored login's endpoint")
    values.setdefault("endpoint", stored_endpoint)
    if credentials is not None or _normalized(values["endpoint"]) != _normalized(stored_endpoint):
        return credentials
    moment = time.time() if now is None else now
    fresh = login.expires_at is not None and login.expires_at - moment > STORED_TOKEN_MARGIN
    token = _optional_secret(login.token, "the stored login's token") if fresh else None
    key = _optional_secret(login.api_key, "the stored login's API key")
    if token is None and key is None:
        return None
    return token, key, login.source or "file"


def _normalized(endpoint: object) -> str:
    return str(endpoint).rstrip("/")
