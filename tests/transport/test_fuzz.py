"""Property tests: any value survives encode/decode, and no message makes a session misbehave.

A session fed hostile input may only raise `ProtocolError` (after aborting) or accept it; it
never hangs (each example runs under an alarm) and never takes the interpreter down.
``DOTDO_LONG_TESTS=1`` runs ten times as many examples.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dotdo.errors import ProtocolError
from dotdo.transport import UNDEFINED, RpcTarget
from dotdo.transport.codec import Decoder, Encoder
from dotdo.transport.session import Session
from dotdo.transport.target import JS_OBJECT_NAMES
from dotdo.transport.wire import MAX_SAFE_INTEGER, BigInt, dump_message, load_message

LONG = os.environ.get("DOTDO_LONG_TESTS") == "1"
FUZZ = settings(
    max_examples=2_000 if LONG else 200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_EXAMPLE_SECONDS = 5.0  # far above any honest example; only a hang gets near it

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


# -- values -----------------------------------------------------------------------------------

safe_ints = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
big_ints = st.one_of(
    st.integers(MAX_SAFE_INTEGER + 1, 10**400),
    st.integers(-(10**400), -MAX_SAFE_INTEGER - 1),
    st.integers(2**64 - 2, 2**64 + 2),
)
floats = st.floats(allow_nan=True, allow_infinity=True)
ms_datetimes = st.integers(_FIRST_MS, _LAST_MS).map(lambda ms: _EPOCH + timedelta(milliseconds=ms))
dict_keys = st.text(max_size=8).filter(lambda key: key not in JS_OBJECT_NAMES)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    safe_ints,
    big_ints,
    floats,
    st.text(),
    st.binary(max_size=64),
    ms_datetimes,
    st.just(UNDEFINED),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(dict_keys, children, max_size=5),
    ),
    max_leaves=25,
)


def encode(value: Any) -> str:
    return dump_message(Encoder(None).encode(value))


def decode(text: str) -> Any:
    return Decoder(Session()).decode(load_message(text)).value


def normalized(value: Any) -> Any:
    """``value`` as the peer sees it: NaN comparable, a bigint just an int, containers walked."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, BigInt):
        return ("int", int(value))
    if isinstance(value, list):
        return [normalized(item) for item in value]
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    return (type(value).__name__, value)


@FUZZ
@given(values)
def test_any_value_survives_encode_and_decode(value: Any) -> None:
    assert normalized(decode(encode(value))) == normalized(value)


@FUZZ
@given(st.one_of(big_ints, safe_ints))
def test_an_int_arrives_with_its_exact_value(value: int) -> None:
    assert decode(encode(value)) == value


@FUZZ
@given(ms_datetimes)
def test_a_millisecond_datetime_goes_as_whole_milliseconds(moment: datetime) -> None:
    wire = json.loads(encode(moment))

    assert wire == ["date", (moment - _EPOCH) // timedelta(milliseconds=1)]


@FUZZ
@given(st.binary(max_size=256))
def test_bytes_arrive_without_their_padding_as_well(data: bytes) -> None:
    tag, text = json.loads(encode(data))

    assert (tag, decode(json.dumps(["bytes", text.rstrip("=")]))) == ("bytes", data)


# -- hostile messages -----------------------------------------------------------------------


class _HangError(Exception):
    pass


@contextmanager
def _bounded(seconds: float) -> Iterator[None]:
    """Raise `_HangError` in this thread if the block runs longer than ``seconds``."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise _HangError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Counter(RpcTarget):
    def __init__(self) -> None:
        self._value = 0

    def increment(self, by: Any = 1) -> Any:
        self._value += by if type(by) is int else 1
        return self._value


class _FuzzTarget(RpcTarget):
    """A main object with a little of everything a peer might reach for."""

    constant = 7

    def echo(self, value: Any = None) -> Any:
        return value

    def fail(self, message: Any = "failed") -> None:
        raise ValueError(str(message))

    def counter(self) -> _Counter:
        return _Counter()

    def numbers(self, n: Any = 3) -> list[int]:
        return list(range(n if type(n) is int and 0 <= n < 20 else 3))

    def call(self, function: Any, value: Any = None) -> Any:
        return function(value) if callable(function) else None


def _feed(messages: list[Any]) -> None:
    """Feed messages to a fresh session; only `ProtocolError` may come out, never a hang."""
    session = Session(_FuzzTarget())
    with _bounded(_EXAMPLE_SECONDS):
        for message in messages:
            try:
                session.receive(message)
            except ProtocolError:
                assert not session.is_open
                break
            session.take_outgoing()
        session.stats()
        session.take_outgoing()


small_ids = st.integers(-3, 4)
message_kinds = st.sampled_from(
    ["push", "pull", "resolve", "reject", "release", "stream", "pipe", "abort", "bogus"]
)
expression_tags = st.sampled_from(
    [
        "pipeline",
        "import",
        "export",
        "promise",
        "remap",
        "bigint",
        "date",
        "bytes",
        "error",
        "undefined",
        "inf",
        "-inf",
        "nan",
        "url",
        "headers",
        "request",
        "response",
        "blob",
        "readable",
        "writable",
        "unknown",
    ]
)
member_names = st.sampled_from(
    [
        *("echo", "fail", "counter", "numbers", "call", "constant", "increment", "missing"),
        *("_value", "__class__", "__init__", "__dict__", "constructor", "__proto__", "toJSON"),
    ]
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _tagged(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Arrays that start with an expression tag, with arguments of roughly the right kind."""
    argument = st.one_of(
        small_ids,
        member_names,
        st.lists(st.one_of(member_names, small_ids), max_size=3),
        st.lists(children, max_size=3),
        children,
    )
    return st.tuples(expression_tags, st.lists(argument, max_size=4)).map(
        lambda parts: [parts[0], *parts[1]]
    )


expressions = st.recursive(
    st.one_of(json_values, st.just([["pipeline", 0, ["echo"], [1]]])),
    lambda children: st.one_of(
        _tagged(children),
        st.lists(children, max_size=3).map(lambda items: [items]),  # an escaped array
        st.dictionaries(st.text(max_size=6), children, max_size=3),
        st.tuples(small_ids, member_names, st.lists(children, max_size=2)).map(
            lambda parts: ["pipeline", parts[0], [parts[1]], parts[2]]
        ),
    ),
    max_leaves=15,
)
messages = st.one_of(
    st.tuples(message_kinds, st.lists(st.one_of(small_ids, expressions), max_size=3)).map(
        lambda parts: [parts[0], *parts[1]]
    ),
    st.tuples(st.sampled_from(["push", "stream"]), expressions).map(list),
    st.tuples(st.sampled_from(["pull", "release"]), small_ids, small_ids).map(
        lambda parts: [parts[0], parts[1]] if parts[0] == "pull" else list(parts)
    ),
    st.tuples(st.sampled_from(["resolve", "reject"]), small_ids, expressions).map(list),
    json_values,
)


# Mostly well-formed traffic, so examples get past the first message and into the tables.
push_ids = st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3])  # 0, the main object, always exists
peer_ids = st.integers(-4, -1)
well_formed_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        safe_ints,
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.integers(-(10**30), 10**30).map(lambda n: ["bigint", str(n)]),
        st.integers(_FIRST_MS, _LAST_MS).map(lambda ms: ["date", ms]),
        st.sampled_from([["bytes", "aGk"], ["undefined"], ["inf"], ["-inf"], ["nan"]]),
        st.sampled_from([["url", "https://x.test/"], ["headers", [["a", "b"]]]]),
        st.tuples(
            st.sampled_from(["Error", "TypeError", "NotFoundError"]), st.text(max_size=8)
        ).map(lambda parts: ["error", parts[0], parts[1]]),
        st.tuples(st.sampled_from(["export", "promise"]), peer_ids).map(list),
        st.tuples(st.sampled_from(["import", "pipeline"]), push_ids).map(list),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda items: [items]),
        st.dictionaries(st.text(max_size=4), children, max_size=3),
        st.tuples(push_ids, member_names, st.lists(children, max_size=2)).map(
            lambda parts: ["pipeline", parts[0], [parts[1]], parts[2]]
        ),
    ),
    max_leaves=8,
)
calls = st.tuples(push_ids, member_names, st.lists(well_formed_values, max_size=2)).map(
    lambda parts: ["pipeline", parts[0], [parts[1]], parts[2]]
)
instructions = st.tuples(st.integers(-1, 1), member_names, st.lists(well_formed_values, max_size=1))
remaps = st.tuples(
    push_ids,
    st.lists(st.sampled_from([["import", 0], ["export", -1], ["import", 1]]), max_size=2),
    st.lists(instructions, min_size=1, max_size=3),
).map(
    lambda parts: [
        "remap",
        parts[0],
        [],
        parts[1],
        [["pipeline", index, [name], args] for index, name, args in parts[2]],
    ]
)
well_formed_messages = st.one_of(
    st.tuples(
        st.sampled_from(["push", "stream"]), st.one_of(calls, remaps, well_formed_values)
    ).map(list),
    st.tuples(st.just("pull"), st.integers(1, 3)).map(list),
    st.tuples(st.just("release"), st.integers(-1, 3), st.integers(1, 2)).map(list),
    st.tuples(st.sampled_from(["resolve", "reject"]), peer_ids, well_formed_values).map(list),
    st.just(["pipe"]),
)
sessions = st.lists(
    st.one_of(*[well_formed_messages] * 19, messages),  # now and then, anything at all
    min_size=1,
    max_size=12,
)


# Pushes 1 and 2 exist (a counter, and an echo of our import -1), so ids in the batch resolve.
_PRELUDE = [
    '["push",["pipeline",0,["counter"],[]]]',
    '["push",["pipeline",0,["echo"],[["export",-1]]]]',
]


@FUZZ
@given(sessions)
def test_mostly_well_formed_sessions_raise_only_protocol_error(batch: list[Any]) -> None:
    _feed(_PRELUDE + [json.dumps(message) for message in batch])


@FUZZ
@given(json_values)
def test_random_json_is_refused_or_accepted_never_misread(value: Any) -> None:
    _feed([json.dumps(value)])


@FUZZ
@given(st.lists(messages, min_size=1, max_size=8))
def test_random_protocol_messages_raise_only_protocol_error(batch: list[Any]) -> None:
    _feed([json.dumps(message) for message in batch])


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_error(data: bytes) -> None:
    _feed([data])


@FUZZ
@given(st.text(max_size=200))
def test_random_text_raises_only_protocol_error(text: str) -> None:
    _feed([text])


def _spin_forever() -> None:
    while True:
        pass


def test_the_bound_catches_a_hang() -> None:
    with pytest.raises(_HangError), _bounded(0.05):
        _spin_forever()


_HOSTILE = """
from dotdo.errors import ProtocolError
from dotdo.transport.session import Session

hostile = [
    "[" * 200_000 + "]" * 200_000,
    '["push",' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "]",
    '["push",' + "[[" * 50_000 + "1" + "]]" * 50_000 + "]",
    '["push",' + '["pipeline",0,["echo"],[' * 5_000 + "1" + "]]" * 5_000 + "]",
    '["push",["bigint","' + "9" * 1_000_000 + '"]]',
    '["push",["bytes","' + "A" * 1_000_000 + '"]]',
    '["push",["date",1e308]]',
    '["push","' + "\\\\u0000" * 100_000 + '"]',
]
for text in hostile:
    try:
        Session().receive(text)
    except ProtocolError:
        pass
print("survived")
"""


def test_hostile_messages_do_not_crash_the_interpreter() -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_HOSTILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert (result.returncode, result.stdout.strip()) == (0, "survived"), result.stderr[-2000:]
