"""Tools the facade tests share: a wiretap on a client session, and running Python in a child.

The wiretap counts what really crosses the session, so "costs no round trip" and "one round
trip" are checked on the messages themselves rather than on timings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotdo import DotDo
from dotdo.transport.session import Session

__all__ = [
    "REQUESTS",
    "Wiretap",
    "clean_environ",
    "open_sessions",
    "run_cli",
    "run_python",
    "transport_session",
]

ROOT = Path(__file__).resolve().parents[2]
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")

#: The message kinds that ask the peer for something (a release or a resolve does not).
REQUESTS = frozenset({"push", "pull", "stream"})


def transport_session(platform_session: Any) -> Session:
    """The `dotdo.transport` Session under a client's PlatformSession (WebSocket or memory)."""
    closer = platform_session._closer
    driver = getattr(closer, "_driver", None) or closer._client
    session: Session = driver.session
    return session


class Wiretap:
    """Records the kind of every message a session sends and receives, in order."""

    def __init__(self, session: Session) -> None:
        self.events: list[tuple[str, str]] = []
        self.received: list[str] = []  # the text of every incoming message
        take_outgoing, receive = session.take_outgoing, session.receive

        def tapped_take_outgoing() -> list[str]:
            messages = take_outgoing()
            self.events.extend(("sent", _kind(message)) for message in messages)
            return messages

        def tapped_receive(data: str | bytes) -> None:
            self.events.append(("received", _kind(data)))
            self.received.append(data if isinstance(data, str) else data.decode())
            receive(data)

        session.take_outgoing = tapped_take_outgoing  # type: ignore[method-assign]
        session.receive = tapped_receive  # type: ignore[method-assign]

    def requests(self) -> list[str]:
        """The kinds of the requests sent (push, pull, stream)."""
        return [kind for way, kind in self.events if way == "sent" and kind in REQUESTS]

    def round_trips(self) -> int:
        """How many times a request had to wait for an answer before the next could go out.

        Requests sent together, before anything came back, are one round trip.
        """
        trips, sending = 0, False
        for way, kind in self.events:
            if way == "received":
                sending = False
            elif kind in REQUESTS and not sending:
                trips, sending = trips + 1, True
        return trips

    def tokens(self) -> list[str]:
        """Every JWT the peer sent (the exchange answers)."""
        return [token for text in self.received for token in _JWT.findall(text)]

    def clear(self) -> None:
        self.events.clear()
        self.received.clear()


def open_sessions(client: DotDo) -> list[Any]:
    """The sessions the client's pool holds on this event loop."""
    return [session for session in client._pool()._sessions if session is not None]


def _kind(message: str | bytes) -> str:
    kind = json.loads(message)[0]
    return str(kind)


def clean_environ(**extra: str | os.PathLike[str]) -> dict[str, str]:
    """This process's environment without any DOTDO_* variable, plus ``extra``."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("DOTDO_")}
    environ.update({name: str(value) for name, value in extra.items()})
    return environ


def run_python(
    code: str, env: Mapping[str, str], *, timeout: float = 30, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in a child process with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def run_cli(
    *args: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dotdo *args`` in a child process with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "dotdo", *args],
        env=dict(env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
