"""``from dotdo import dotdo``: what the package exports, and that importing it does nothing."""

from __future__ import annotations

import inspect
import json

import pytest

import dotdo as package
from dotdo import DotDo, dotdo, errors

from .helpers import clean_environ, run_python

# Modules that would mean importing dotdo paid for I/O, crypto, validation or an event loop.
HEAVY = (
    "anyio",
    "asyncio",
    "bcrypt",
    "cryptography",
    "httpx",
    "keyring",
    "orjson",
    "platformdirs",
    "pydantic",
    "socket",
    "ssl",
    "websockets",
    "dotdo.transport",
    "dotdo.namespaces",
    "dotdo.server",
    "dotdo.resilience",
    "dotdo._credentials",
    "dotdo._session_pool",
)


def test_the_package_exports_the_singleton_the_class_every_error_and_the_version() -> None:
    error_classes = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.DotDoError)
    }
    assert set(package.__all__) == {"dotdo", "DotDo", "__version__", *error_classes}
    for name in package.__all__:
        assert hasattr(package, name), name
    assert isinstance(dotdo, DotDo)
    assert isinstance(package.__version__, str)
    assert package.__version__


def test_importing_dotdo_loads_no_heavy_module_and_opens_nothing(tmp_path: object) -> None:
    code = (
        "import sys, threading, json\n"
        "before = set(sys.modules)\n"
        "from dotdo import dotdo\n"
        "print(json.dumps({'modules': sorted(set(sys.modules) - before),"
        " 'threads': threading.active_count(), 'connected': dotdo.is_connected,"
        " 'repr': repr(dotdo)}))\n"
    )
    result = run_python(code, clean_environ())
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    loaded = set(found["modules"])
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
    ours = sorted(m for m in loaded if m.split(".")[0] == "dotdo")
    assert ours == ["dotdo", "dotdo._client", "dotdo._config", "dotdo._version", "dotdo.errors"]
    assert found["threads"] == 1
    assert found["connected"] is False
    assert found["repr"] == "<DotDo endpoint='unresolved' connected=False>"


def test_importing_reads_no_environment_a_bad_setting_fails_at_first_use_by_name() -> None:
    code = (
        "from dotdo import dotdo, ValidationError\n"
        "print('imported')\n"
        "try:\n"
        "    dotdo.sync.secrets.get('DB_URL')\n"
        "except ValidationError as error:\n"
        "    print('first use:', error)\n"
    )
    result = run_python(code, clean_environ(DOTDO_TIMEOUT="bogus", DOTDO_NO_KEYCHAIN="1"))
    assert result.returncode == 0, result.stderr
    imported, first_use = result.stdout.splitlines()
    assert imported == "imported"
    assert "DOTDO_TIMEOUT" in first_use
    assert "'bogus'" in first_use


def test_namespaces_are_built_on_first_access_and_cached() -> None:
    code = (
        "import sys\n"
        "from dotdo import dotdo\n"
        "print('dotdo.namespaces.secrets' in sys.modules)\n"
        "first = dotdo.secrets\n"
        "print('dotdo.namespaces.secrets' in sys.modules, first is dotdo.secrets)\n"
    )
    result = run_python(code, clean_environ())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]


def test_a_namespace_is_cached_per_client_and_holds_no_session() -> None:
    client = DotDo(endpoint="memory://")
    assert client.secrets is client.secrets
    assert client.is_connected is False
    assert repr(client.secrets) == "<dotdo.secrets>"


@pytest.mark.parametrize("name", ["db", "collections", "auth", "logs", "rpc"])
def test_every_namespace_of_the_issue_is_an_attribute_of_the_client(name: str) -> None:
    # The property exists now; its module arrives with the namespace itself.
    assert isinstance(inspect.getattr_static(DotDo, name), property)
