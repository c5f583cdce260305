"""The ``dotdo`` command: the local platform, a tour, login, and one-off calls.

    dotdo dev [--host H] [--port N] [--data DIR] [--allow-remote] [--service NAME=MOD:CLASS]
    dotdo demo
    dotdo login [--endpoint URL] | logout | whoami | auth status
    dotdo secrets get NAME | set NAME VALUE [--comment C] | list [--prefix P] | delete NAME
    dotdo db query "SQL" [PARAM ...]
    dotdo logs tail [--level L] [--category C] [--limit N] [--follow]

Failures print one line on stderr and exit 1 (2 for usage errors). Secret values are printed only
by ``secrets get``, which is asked for them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from dotdo.errors import DotDoError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["dev"]:
        from dotdo.server.dev import run_dev

        code: int = run_dev(args[1:])
        return code
    parser = _parser()
    options = parser.parse_args(args)
    handler: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] | None = getattr(
        options, "handler", None
    )
    if handler is None:
        parser.print_help()
        return 2
    try:
        return asyncio.run(handler(options))
    except DotDoError as error:
        print(f"dotdo: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dotdo", description="The dotdo platform from a shell.")
    commands = parser.add_subparsers(metavar="COMMAND")
    commands.add_parser("dev", help="run the local platform (see `dotdo dev --help`)")

    demo = commands.add_parser("demo", help="a tour of every namespace on an in-process platform")
    demo.set_defaults(handler=_demo)

    login = commands.add_parser("login", help="store an API key for this machine")
    login.add_argument("--endpoint", help="platform URL (default: the local `dotdo dev`)")
    login.set_defaults(handler=_login)
    commands.add_parser("logout", help="forget the stored login").set_defaults(handler=_logout)
    commands.add_parser("whoami", help="who the stored credentials are").set_defaults(
        handler=_whoami
    )
    auth = commands.add_parser("auth", help="credential status").add_subparsers(metavar="ACTION")
    auth.add_parser("status", help="where credentials come from (never their value)").set_defaults(
        handler=_auth_status
    )

    secrets = commands.add_parser("secrets", help="read and write secrets").add_subparsers(
        metavar="ACTION"
    )
    get = secrets.add_parser("get", help="print a secret's value")
    get.add_argument("name")
    get.set_defaults(handler=_secrets_get)
    put = secrets.add_parser("set", help="create or replace a secret")
    put.add_argument("name")
    put.add_argument("value", nargs="?", help="omit to read it from stdin")
    put.add_argument("--comment")
    put.set_defaults(handler=_secrets_set)
    listing = secrets.add_parser("list", help="list secret names and metadata")
    listing.add_argument("--prefix")
    listing.set_defaults(handler=_secrets_list)
    delete = secrets.add_parser("delete", help="delete a secret")
    delete.add_argument("name")
    delete.set_defaults(handler=_secrets_delete)

    db = commands.add_parser("db", help="run SQL").add_subparsers(metavar="ACTION")
    query = db.add_parser("query", help="run a read-only query, print rows as JSON lines")
    query.add_argument("sql")
    query.add_argument("params", nargs="*", help="values for the ? placeholders")
    query.set_defaults(handler=_db_query)

    logs = commands.add_parser("logs", help="read logs").add_subparsers(metavar="ACTION")
    tail = logs.add_parser("tail", help="print recent log entries")
    tail.add_argument("--level")
    tail.add_argument("--category")
    tail.add_argument("--limit", type=int, default=50)
    tail.add_argument("--follow", action="store_true", help="keep printing new entries")
    tail.set_defaults(handler=_logs_tail)
    return parser


def _client(**settings: Any) -> Any:
    import os

    from dotdo import DotDo

    # A command run by hand should say "not running" within seconds, not wait out the
    # 30-second cold-start budget meant for a platform that scales to zero.
    if "DOTDO_COLD_START_TIMEOUT" not in os.environ:
        settings.setdefault("cold_start_timeout", 3.0)
    return DotDo(**settings)


async def _login(options: argparse.Namespace) -> int:
    from dotdo._config import DEFAULT_ENDPOINT
    from dotdo._credentials import CredentialStore, StoredLogin

    endpoint = options.endpoint or DEFAULT_ENDPOINT
    if sys.stdin.isatty():
        api_key = getpass.getpass("API key: ").strip()
    else:
        api_key = sys.stdin.readline().strip()
    if not api_key:
        print("dotdo: no API key given", file=sys.stderr)
        return 2
    async with _client(endpoint=endpoint, api_key=api_key) as client:
        who = await client.auth.whoami()
    where = CredentialStore().save(StoredLogin(endpoint=endpoint, api_key=api_key))
    print(f"logged in to {endpoint} as {_who(who)} (stored in the {where})")
    return 0


async def _logout(options: argparse.Namespace) -> int:
    from dotdo._credentials import CredentialStore

    CredentialStore().clear()
    print("logged out: the stored login is gone")
    return 0


async def _whoami(options: argparse.Namespace) -> int:
    async with _client() as client:
        print(_who(await client.auth.whoami()))
    return 0


async def _auth_status(options: argparse.Namespace) -> int:
    settings = _client().settings
    print(f"endpoint:    {settings.endpoint}")
    print(f"credentials: {settings.credential_source}")
    return 0


async def _secrets_get(options: argparse.Namespace) -> int:
    async with _client() as client:
        print(await client.secrets.get(options.name))
    return 0


async def _secrets_set(options: argparse.Namespace) -> int:
    value = options.value if options.value is not None else sys.stdin.read().rstrip("\n")
    async with _client() as client:
        info = await client.secrets.set(options.name, value, comment=options.comment)
    print(f"set {info.name} (version {info.version})")
    return 0


async def _secrets_list(options: argparse.Namespace) -> int:
    async with _client() as client:
        for info in await client.secrets.list(options.prefix):
            comment = f"  # {info.comment}" if info.comment else ""
            print(f"{info.name}  v{info.version}{comment}")
    return 0


async def _secrets_delete(options: argparse.Namespace) -> int:
    async with _client() as client:
        await client.secrets.delete(options.name)
    print(f"deleted {options.name}")
    return 0


async def _db_query(options: argparse.Namespace) -> int:
    params = [_parse_param(value) for value in options.params]
    async with _client() as client:
        result = await client.db.query(options.sql, params or None)
    for row in result.rows:
        print(json.dumps(row, default=str))
    return 0


def _parse_param(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _logs_tail(options: argparse.Namespace) -> int:
    async with _client() as client:
        since: float | None = None
        while True:
            entries = await client.logs.query(
                level=options.level, since=since, category=options.category, limit=options.limit
            )
            for entry in entries:
                print(_format_entry(entry))
                since = max(since or 0.0, _entry_time(entry) + 1e-6)
            if not options.follow:
                return 0
            await asyncio.sleep(1.0)


def _entry_time(entry: Any) -> float:
    value = getattr(entry, "timestamp", None) or getattr(entry, "time", None)
    return float(value) if isinstance(value, int | float) else time.time()


def _format_entry(entry: Any) -> str:
    data = entry.model_dump() if hasattr(entry, "model_dump") else dict(entry)
    return json.dumps(data, default=str)


def _who(who: Any) -> str:
    data = who.model_dump() if hasattr(who, "model_dump") else who
    if isinstance(data, dict):
        name = data.get("username") or data.get("key_name") or data.get("subject") or "?"
        tenant = data.get("tenant") or data.get("tenant_id") or "?"
        return f"{name} (tenant {tenant})"
    return str(data)


async def _demo(options: argparse.Namespace) -> int:
    from dotdo.demo import run_demo

    await run_demo(print)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
