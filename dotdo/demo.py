"""``dotdo demo``: a tour that makes one real call in each namespace, then shuts down.

It runs the platform in this process (``memory://``), so it needs no server and no credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dotdo.transport import RpcTarget

__all__ = ["run_demo"]


class _Greeter(RpcTarget):
    """A user service, mounted for the tour as ``rpc.greeter``."""

    def hello(self, name: str) -> str:
        return f"hello, {name}"


async def run_demo(say: Callable[[str], object]) -> None:
    """Tour secrets, db, collections, auth, logs and rpc on a fresh in-process platform."""
    from dotdo import DotDo
    from dotdo.server.platform import Platform

    platform = Platform(services={"greeter": _Greeter()})
    client = DotDo()
    client.use_platform(platform)  # the tour mounts a user service; see `dotdo dev --service`
    async with client:
        say("dotdo demo — an in-process platform, one real call per namespace\n")

        await client.secrets.set("DATABASE_URL", "sqlite:///demo.db", comment="demo")
        names = [info.name for info in await client.secrets.list()]
        say(f"secrets      set DATABASE_URL; list -> {names}")

        await client.db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        await client.db.execute("INSERT INTO users (name) VALUES (?)", ["Ada"])
        result = await client.db.query("SELECT id, name FROM users")
        say(f"db           SELECT -> {result.rows}")

        users = client.collections("profiles")
        await users.set("u1", {"name": "Ada", "langs": ["python"]})
        found = await users.query().where("name", "==", "Ada").execute()
        say(f"collections  query name == 'Ada' -> {len(found)} document(s)")

        who = await client.auth.whoami()
        say(f"auth         whoami -> {who.kind} of tenant {who.tenant!r}, scopes {len(who.scopes)}")

        client.logs.info("demo ran", {"step": "logs"}, category="demo")
        await client.logs.flush()
        entries = await client.logs.query(category="demo")
        say(f"logs         info + flush; query(category='demo') -> {len(entries)} entry")

        greeting = await client.rpc.greeter.hello("Ada")
        say(f"rpc          greeter.hello('Ada') -> {greeting!r}")
        say("\ndone: the platform shuts down with the process.")
    platform.close()
    logging.getLogger("dotdo").debug("demo finished")
