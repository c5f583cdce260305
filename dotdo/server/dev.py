"""``dotdo dev``: run the local platform on this machine, with a ready-made tenant and key.

    dotdo dev [--host 127.0.0.1] [--port 8787] [--data DIR] [--allow-remote]
              [--service NAME=module:Class ...]

On the first run it creates the ``dev`` tenant, an ``admin`` user and an API key with every scope,
prints the endpoint and the key, and saves both where the SDK looks for a login
(:class:`~dotdo._credentials.CredentialStore`: the OS keychain, else a file in
``DOTDO_CONFIG_DIR``), so ``dotdo`` in another terminal works with no configuration. The last line
it prints at start-up is ``LISTENING <port>``. Ctrl-C or SIGTERM stops it cleanly (exit 0); usage
errors exit 2, failures to start exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import anyio.to_thread

from dotdo._credentials import CredentialStore, StoredLogin
from dotdo.errors import DotDoError
from dotdo.server.app import endpoint_url, serve
from dotdo.server.platform import DEV_CREDENTIALS_FILE, DevTenant, Platform
from dotdo.transport.target import RpcTarget

__all__ = ["DEFAULT_PORT", "default_data_dir", "is_loopback", "run_dev"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line mistake: printed as is, exit status 2."""


@dataclass(frozen=True)
class DevOptions:
    """The parsed command line of ``dotdo dev``."""

    host: str
    port: int
    data_dir: Path
    services: dict[str, RpcTarget]


def run_dev(argv: list[str]) -> int:
    """Run ``dotdo dev`` with ``argv`` (the arguments after ``dev``); returns the exit status."""
    try:
        options = _options(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except UsageError as exc:
        _say(f"dotdo dev: {exc}", stream=sys.stderr)
        return EXIT_USAGE
    _configure_logging()
    with _stop_on_sigterm():
        try:
            return _serve_until_stopped(options)
        except KeyboardInterrupt:  # a signal before the server took over signal handling
            return EXIT_OK


def default_data_dir() -> Path:
    """``DOTDO_DATA_DIR``, else ``<user data dir>/dotdo/dev`` (platformdirs)."""
    configured = os.environ.get("DOTDO_DATA_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("dotdo", appauthor=False)) / "dev"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; any other name or address is remote."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dotdo dev",
        description="Run the local dotdo platform: every namespace on SQLite, over Cap'n Web.",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="data directory (default: $DOTDO_DATA_DIR, else the user data dir)/dotdo/dev",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a host other than loopback (the dev key is printed and stored in clear)",
    )
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME=module:Class",
        help="serve Class() from module as api.rpc.NAME (repeatable)",
    )
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {port}")
    return port


def _options(argv: Sequence[str]) -> DevOptions:
    args = _parser().parse_args(list(argv))
    host: str = args.host
    if not is_loopback(host) and not args.allow_remote:
        raise UsageError(
            f"refusing to listen on {host!r}, which other machines can reach: the dev tenant's"
            " admin key would be open to them. Use --host 127.0.0.1, or pass --allow-remote"
            " if you mean it."
        )
    data_dir: Path = args.data if args.data is not None else default_data_dir()
    return DevOptions(
        host=host.strip("[]"),
        port=args.port,
        data_dir=data_dir,
        services=_load_services(args.service),
    )


def _load_services(specs: Sequence[str]) -> dict[str, RpcTarget]:
    """``NAME=module:Class`` specs as instances, importing from the working directory too."""
    if specs and os.getcwd() not in sys.path:
        # Like uvicorn's --app-dir default: `dotdo dev --service ai=myapp.ai:Ai` run from a
        # project finds `myapp` there, whether started as a script or with `python -m`.
        sys.path.insert(0, os.getcwd())
    services: dict[str, RpcTarget] = {}
    for spec in specs:
        name, target = _split_spec(spec)
        if name in services:
            raise UsageError(f"--service {name}: given twice")
        services[name] = _instantiate(name, target)
    return services


def _split_spec(spec: str) -> tuple[str, str]:
    name, equals, target = spec.partition("=")
    module, colon, attribute = target.partition(":")
    if not (equals and colon and name and module and attribute):
        raise UsageError(f"--service {spec!r}: expected NAME=module:Class, e.g. ai=myapp.ai:Ai")
    return name.strip(), target.strip()


def _instantiate(name: str, target: str) -> RpcTarget:
    module_name, _, attribute = target.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(
            f"--service {name}: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    for part in attribute.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise UsageError(f"--service {name}: {module_name!r} has no {attribute!r}")
    try:
        service = found()
    except Exception as exc:
        raise UsageError(
            f"--service {name}: {target}() failed: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(service, RpcTarget):
        raise UsageError(
            f"--service {name}: {target} must be a subclass of dotdo.transport.RpcTarget"
        )
    return service


# -- running --------------------------------------------------------------------------------


def _serve_until_stopped(options: DevOptions) -> int:
    try:
        platform = Platform(options.data_dir, services=options.services)
    except (DotDoError, OSError) as exc:
        reason = exc.message if isinstance(exc, DotDoError) else str(exc)
        _say(f"dotdo dev: cannot open {options.data_dir}: {reason}", stream=sys.stderr)
        return EXIT_FAILED
    with platform:
        dev = platform.ensure_dev_tenant()
        announce = _Announcer(options, dev)
        try:
            _run(serve(platform, options.host, options.port, ready=announce))
        except OSError as exc:
            where = f"{options.host}:{options.port}"
            _say(f"dotdo dev: cannot listen on {where}: {exc.strerror or exc}", stream=sys.stderr)
            return EXIT_FAILED
    _say("dotdo dev: stopped")
    return EXIT_OK


class _Announcer:
    """Prints what a developer needs once the port is known, saves the login, then LISTENING."""

    def __init__(self, options: DevOptions, dev: DevTenant) -> None:
        self._options = options
        self._dev = dev

    async def __call__(self, port: int) -> None:
        endpoint = endpoint_url(self._options.host, port)
        dev = self._dev
        _say(f"dotdo dev: the local platform, data in {self._options.data_dir}")
        if dev.created:
            _say(f"  created tenant {dev.tenant!r}, user {dev.username!r} and an admin API key")
        _say(f"  endpoint   {endpoint}")
        if self._options.services:
            names = ", ".join(f"api.rpc.{name}" for name in sorted(self._options.services))
            _say(f"  services   {names}")
        if dev.api_key is None:
            _say(
                f"  api key    not shown: {DEV_CREDENTIALS_FILE} no longer holds it (make one"
                " with auth.api_keys.create, or start over with an empty data directory)"
            )
        else:
            _say(f"  api key    {dev.api_key}")
            if dev.password is not None:
                _say(f"  login      {dev.username} / {dev.password}  (tenant {dev.tenant!r})")
            _say(await anyio.to_thread.run_sync(_save_login, endpoint, dev.api_key))
        _say(f"LISTENING {port}")


def _save_login(endpoint: str, api_key: str) -> str:
    """Store the dev login for the SDK; returns the line to print (a failure is not fatal)."""
    try:
        store = CredentialStore()
        previous = store.load()
        where = store.save(StoredLogin(endpoint=endpoint, api_key=api_key))
    except (OSError, DotDoError) as exc:
        return f"  (could not save the login for the SDK: {exc})"
    place = "the OS keychain" if where == "keychain" else str(store.data_path)
    line = f"  saved this endpoint and key for the SDK in {place}"
    if previous is not None and previous.endpoint != endpoint:
        line += f" (replacing the login for {previous.endpoint})"
    return line


def _run(main: Coroutine[Any, Any, None]) -> None:
    asyncio.run(main)


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Make SIGTERM stop start-up like Ctrl-C does (the server handles both once it runs)."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _say(line: str, *, stream: TextIO | None = None) -> None:
    print(line, file=stream or sys.stdout, flush=True)
