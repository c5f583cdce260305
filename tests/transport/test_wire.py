"""The wire codec: one table of wire text ⇄ Python value drives both encode and decode.

Then what the JSON layer and the decoder refuse: invalid JSON, oversize messages, deep nesting,
out-of-range bigints, and the expression types the Python peer does not take.
"""

from __future__ import annotations

import enum
import gc
import json
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dotdo.errors import (
    DotDoError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    RpcError,
    ValidationError,
)
from dotdo.transport import UNDEFINED, Limits, RpcTarget
from dotdo.transport.codec import Decoder, Encoder
from dotdo.transport.limits import DEFAULT_LIMITS
from dotdo.transport.session import Session
from dotdo.transport.wire import BigInt, dump_message, load_message

BOTH = "both"
DECODE = "decode only"  # a form we accept but never send
ENCODE = "encode only"  # a Python type that arrives on the other side as another

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NINES_16384 = 10**16384 - 1  # 16,384 digits, built without str(), which would need 4,300+


@dataclass(frozen=True)
class WireCase:
    """One row of the table: ``wire`` is the exact JSON text for ``value``."""

    name: str
    wire: str
    value: Any
    direction: str = BOTH


class _Color(enum.IntEnum):
    RED = 3


WIRE_CASES = [
    # JSON values
    WireCase("integer", "123", 123),
    WireCase("negative float", "-1.5", -1.5),
    WireCase("null", "null", None),
    WireCase("true", "true", True),
    WireCase("false", "false", False),
    WireCase("string", '"foo"', "foo"),
    WireCase("non-ASCII string", '"héllo ☃ 😀"', "héllo ☃ 😀"),
    WireCase("largest safe integer", "9007199254740991", 2**53 - 1),
    WireCase("smallest safe integer", "-9007199254740991", -(2**53 - 1)),
    WireCase("empty object", "{}", {}),
    WireCase("object", '{"foo":123}', {"foo": 123}),
    WireCase(
        "nested object",
        '{"foo":{"bar":123,"baz":456},"qux":789}',
        {"foo": {"bar": 123, "baz": 456}, "qux": 789},
    ),
    # escaped arrays
    WireCase("empty array", "[[]]", []),
    WireCase("array", "[[123]]", [123]),
    WireCase("nested array", "[[[[123,456]]]]", [[123, 456]]),
    WireCase(
        "array in an object", '{"foo":[[123]],"bar":[[456,789]]}', {"foo": [123], "bar": [456, 789]}
    ),
    WireCase(
        "array of expressions",
        '{"key":[["abc",["date",1757214689123],[[0]]]]}',
        {"key": ["abc", _EPOCH + timedelta(milliseconds=1757214689123), [0]]},
    ),
    WireCase("tuple", "[[1,2]]", (1, 2), ENCODE),
    # undefined and non-finite numbers
    WireCase("undefined", '["undefined"]', UNDEFINED),
    WireCase("infinity", '["inf"]', math.inf),
    WireCase("negative infinity", '["-inf"]', -math.inf),
    WireCase("nan", '["nan"]', math.nan),
    # bytes
    WireCase("bytes", '["bytes","aGVsbG8h"]', b"hello!"),
    WireCase("bytes needing padding", '["bytes","aGk="]', b"hi"),
    WireCase("empty bytes", '["bytes",""]', b""),
    WireCase("unpadded base64, as the reference sends", '["bytes","aGk"]', b"hi", DECODE),
    WireCase("typed array", '["bytes","AQACAA","Uint16Array"]', b"\x01\x00\x02\x00", DECODE),
    WireCase("ArrayBuffer", '["bytes","AP8","ArrayBuffer"]', b"\x00\xff", DECODE),
    WireCase("bytearray", '["bytes","aGk="]', bytearray(b"hi"), ENCODE),
    WireCase("memoryview", '["bytes","aGk="]', memoryview(b"hi"), ENCODE),
    # bigint
    WireCase("small bigint", '["bigint","123"]', BigInt(123)),
    WireCase("negative bigint", '["bigint","-123"]', BigInt(-123)),
    WireCase("zero bigint", '["bigint","0"]', BigInt(0)),
    WireCase("2**53 as bigint", '["bigint","9007199254740992"]', BigInt(2**53)),
    WireCase("plain int beyond 2**53", '["bigint","9007199254740992"]', 2**53, ENCODE),
    WireCase("negative int beyond 2**53", '["bigint","-9007199254740993"]', -(2**53 + 1), ENCODE),
    WireCase("100-digit bigint", f'["bigint","1{"0" * 99}"]', BigInt(10**99)),
    WireCase("16,384-digit bigint", f'["bigint","{"9" * 16384}"]', BigInt(_NINES_16384)),
    WireCase(
        "negative bigint of 16,384 characters",
        f'["bigint","-{"9" * 16383}"]',
        BigInt(-(10**16383 - 1)),
    ),
    # dates
    WireCase("epoch", '["date",0]', _EPOCH),
    WireCase("date", '["date",1234]', _EPOCH + timedelta(milliseconds=1234)),
    WireCase("date before the epoch", '["date",-1000]', _EPOCH - timedelta(seconds=1)),
    WireCase(
        "spec's example date",
        '["date",1749342170815]',
        datetime(2025, 6, 8, 0, 22, 50, 815000, tzinfo=UTC),
    ),
    WireCase("invalid date", '["date",null]', None, DECODE),
    # errors
    WireCase("Error", '["error","Error","the message"]', RpcError("the message")),
    WireCase(
        "TypeError",
        '["error","TypeError","the message"]',
        RpcError("the message", remote_type="TypeError"),
    ),
    WireCase(
        "RangeError",
        '["error","RangeError","the message"]',
        RpcError("the message", remote_type="RangeError"),
    ),
    WireCase(
        "error with a stack (4 elements)",
        '["error","Error","the message","at f (x.js:1)"]',
        RpcError("the message"),
        DECODE,
    ),
    WireCase(
        "error with props (5 elements)",
        '["error","SyntaxError","the message",null,{"code":"bad_syntax","line":3}]',
        RpcError("the message", remote_type="SyntaxError", code="bad_syntax"),
        DECODE,
    ),
    WireCase(
        "undeclared error type",
        '["error","QuotaError","over quota"]',
        RpcError("over quota", remote_type="QuotaError"),
        DECODE,
    ),
    WireCase(
        "RpcError of a type JavaScript lacks",
        '["error","Error","over quota"]',
        RpcError("over quota", remote_type="QuotaError"),
        ENCODE,
    ),
    WireCase(
        "Python TypeError",
        '["error","TypeError","bad argument"]',
        TypeError("bad argument"),
        ENCODE,
    ),
    WireCase("Python ValueError", '["error","Error","bad value"]', ValueError("bad value"), ENCODE),
    WireCase(
        "declared error with details",
        '["error","NotFoundError","no such secret",null,'
        '{"code":"not_found","details":{"name":"db-url"}}]',
        NotFoundError("no such secret", details={"name": "db-url"}),
    ),
    WireCase(
        "declared error with a custom code and request id",
        '["error","ValidationError","bad name",null,{"code":"name_too_long","request_id":"req-1"}]',
        ValidationError("bad name", code="name_too_long", request_id="req-1"),
    ),
    WireCase(
        "rate limit with retry_after",
        '["error","RateLimitError","slow down",null,{"code":"rate_limited","retry_after":2.5}]',
        RateLimitError("slow down", retry_after=2.5),
    ),
    WireCase(
        "base dotdo error",
        '["error","DotDoError","failed",null,{"code":"error"}]',
        DotDoError("failed"),
    ),
    # url and headers arrive as plain Python values
    WireCase(
        "url", '["url","https://example.com/path?q=1"]', "https://example.com/path?q=1", DECODE
    ),
    WireCase("empty headers", '["headers",[]]', [], DECODE),
    WireCase(
        "headers",
        '["headers",[["content-type","text/plain"],["x-custom","hello"]]]',
        [("content-type", "text/plain"), ("x-custom", "hello")],
        DECODE,
    ),
    # subclasses go as their base type
    WireCase("IntEnum", "3", _Color.RED, ENCODE),
]


def encode(value: Any) -> str:
    """The wire text the codec produces for ``value`` (outside any session)."""
    return dump_message(Encoder(None).encode(value))


def decode(text: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The Python value a fresh session's decoder makes of ``text``."""
    return Decoder(Session(limits=limits)).decode(load_message(text, limits)).value


def comparable(value: Any) -> Any:
    """``value`` as nested tuples that compare by type and content (NaN equal to NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    if isinstance(value, BaseException):
        return (
            type(value).__name__,
            str(getattr(value, "message", value)),
            getattr(value, "remote_type", None),
            getattr(value, "code", None),
            getattr(value, "details", None),
            getattr(value, "request_id", None),
            getattr(value, "retry_after", None),
        )
    if isinstance(value, dict):
        return ("dict", tuple((key, comparable(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(comparable(item) for item in value))
    return (type(value).__name__, value)


def _cases(*directions: str) -> list[Any]:
    return [pytest.param(case, id=case.name) for case in WIRE_CASES if case.direction in directions]


@pytest.mark.parametrize("case", _cases(BOTH, ENCODE))
def test_encode_produces_the_wire_text(case: WireCase) -> None:
    assert encode(case.value) == case.wire


@pytest.mark.parametrize("case", _cases(BOTH, DECODE))
def test_decode_produces_the_value(case: WireCase) -> None:
    assert comparable(decode(case.wire)) == comparable(case.value)


def test_the_table_covers_every_expression_the_codec_supports() -> None:
    tags = set()
    for case in WIRE_CASES:
        parsed = json.loads(case.wire)
        if isinstance(parsed, list) and parsed and isinstance(parsed[0], str):
            tags.add(parsed[0])
    value_tags = {"undefined", "inf", "-inf", "nan", "bytes", "bigint", "date", "error", "url"}
    assert value_tags | {"headers"} <= tags


# -- bigints and the process-wide digit limit ------------------------------------------------


def test_bigint_digits_do_not_touch_the_process_wide_limit() -> None:
    before = sys.get_int_max_str_digits()

    assert decode(f'["bigint","{"9" * 16384}"]') == _NINES_16384
    assert encode(-_NINES_16384) == f'["bigint","-{"9" * 16384}"]'

    assert sys.get_int_max_str_digits() == before


def test_a_bigint_of_16385_digits_is_refused() -> None:
    with pytest.raises(ProtocolError, match="16385"):
        decode(f'["bigint","{"9" * 16385}"]')


@pytest.mark.parametrize(
    ("digits", "accepted"),
    [("1234", True), ("12345", False), ("-123", True), ("-1234", False)],
)
def test_the_bigint_limit_counts_characters_sign_included(digits: str, accepted: bool) -> None:
    limits = Limits(max_bigint_digits=4)
    wire = f'["bigint","{digits}"]'

    if accepted:
        assert decode(wire, limits) == int(digits)
    else:
        with pytest.raises(ProtocolError):
            decode(wire, limits)


@pytest.mark.parametrize("digits", ["", "-", "12a", "0x10", "1.5", " 1", "+1", "١٢٣"])
def test_a_bigint_that_is_not_a_decimal_string_is_refused(digits: str) -> None:
    with pytest.raises(ProtocolError):
        decode(json.dumps(["bigint", digits]))


def test_a_bigint_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ProtocolError):
        decode('["bigint",123]')


# -- dates ----------------------------------------------------------------------------------


def test_a_millisecond_datetime_is_sent_as_whole_milliseconds() -> None:
    # timestamp() * 1000 in floating point gives 545417903577.99994 here, which JS truncates.
    moment = datetime(1987, 4, 14, 16, 58, 23, 578000, tzinfo=UTC)

    assert encode(moment) == '["date",545417903578]'


def test_a_far_future_date_arrives_to_the_millisecond() -> None:
    # Float seconds cannot hold milliseconds this far out (they gave ...59.998993).
    assert decode('["date",253402300799999]') == datetime(
        9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC
    )


@pytest.mark.parametrize("wire", ['["date","2024-01-01"]', '["date",1e300]', '["date",true]'])
def test_a_date_that_is_not_a_representable_number_is_refused(wire: str) -> None:
    with pytest.raises(ProtocolError):
        decode(wire)


# -- errors ---------------------------------------------------------------------------------


def test_an_error_with_props_that_are_not_an_object_is_refused() -> None:
    with pytest.raises(ProtocolError):
        decode('["error","Error","the message",null,"props"]')


def test_unknown_error_props_are_not_set_on_the_exception() -> None:
    error = decode('["error","Error","m",null,{"__class__":"x","message":"other","secret":1}]')

    assert (error.message, hasattr(error, "secret")) == ("m", False)


def test_a_retry_after_too_large_for_a_float_decodes_or_is_refused() -> None:
    wire = f'["error","RateLimitError","slow",null,{{"retry_after":["bigint","1{"0" * 400}"]}}]'

    try:
        error = decode(wire)
    except ProtocolError:
        return
    assert isinstance(error, RateLimitError)


# -- what the Python peer refuses -----------------------------------------------------------


@pytest.mark.parametrize(
    "wire",
    [
        '["request","http://example.com/",{"method":"HEAD"}]',
        '["response",null,{"statusText":"OK"}]',
        '["blob","text/plain",["readable",1]]',
    ],
)
def test_fetch_values_are_refused(wire: str) -> None:
    with pytest.raises(ProtocolError, match="does not accept"):
        decode(wire)


@pytest.mark.parametrize(
    "wire",
    [
        '["unknown"]',
        '["inf",1]',
        '["undefined",null]',
        '["bytes","!!!"]',
        '["bytes",5]',
        '["error","Error",5]',
        '["url",5]',
        '["headers",[["content-type"]]]',
        '["headers",[["x",1]]]',
        "[]",
        "[1,2]",
    ],
)
def test_a_malformed_expression_is_refused(wire: str) -> None:
    with pytest.raises(ProtocolError):
        decode(wire)


class _BadArgumentError(TypeError):
    pass


def test_a_type_error_subclass_is_sent_as_type_error() -> None:
    assert encode(_BadArgumentError("bad")) == '["error","TypeError","bad"]'


def test_the_encoder_refuses_a_value_it_cannot_send() -> None:
    with pytest.raises(TypeError, match="cannot send"):
        encode(object())


def test_the_encoder_refuses_non_string_dict_keys() -> None:
    with pytest.raises(TypeError, match="keys"):
        encode({1: "one"})


def test_the_encoder_refuses_a_cycle_instead_of_recursing_forever() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)

    with pytest.raises(ValueError, match="nested too deeply"):
        encode(cycle)


def test_a_target_cannot_be_encoded_outside_a_session() -> None:
    with pytest.raises(TypeError):
        encode(RpcTarget())


# -- the JSON layer -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["NaN", "[NaN]", "Infinity", '{"a":-Infinity}', "[1,]", ""])
def test_json_that_javascript_would_refuse_is_refused(text: str) -> None:
    with pytest.raises(ProtocolError, match="not valid JSON"):
        load_message(text)


@pytest.mark.parametrize(
    "text",
    ['"\\ud800"', '"\\udc00"', '["\\ud800x"]', '"\ud800"'],
    ids=["escaped high", "escaped low", "escaped in array", "raw"],
)
def test_a_lone_surrogate_is_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        load_message(text)


def test_an_escaped_surrogate_pair_is_accepted() -> None:
    assert load_message('"\\ud83d\\ude00"') == "😀"


def _string_message(size: int, char: str = "a") -> str:
    """A JSON string literal of exactly ``size`` UTF-8 bytes."""
    width = len(char.encode())
    assert (size - 2) % width == 0
    return '"' + char * ((size - 2) // width) + '"'


@pytest.mark.parametrize(("size", "accepted"), [(63, True), (64, True), (65, False)])
def test_the_message_size_limit_is_inclusive(size: int, accepted: bool) -> None:
    limits = Limits(max_message_size=64)
    text = _string_message(size)

    if accepted:
        assert load_message(text, limits) == text[1:-1]
    else:
        with pytest.raises(ProtocolError, match="exceeds"):
            load_message(text, limits)


def test_the_message_size_counts_utf8_bytes_not_characters() -> None:
    limits = Limits(max_message_size=64)
    text = _string_message(66, "é")  # 33 characters, 66 bytes

    with pytest.raises(ProtocolError, match="66 bytes"):
        load_message(text, limits)


def test_a_multibyte_message_at_the_limit_is_accepted() -> None:
    limits = Limits(max_message_size=64)
    text = _string_message(64, "é")

    assert load_message(text, limits) == "é" * 31


def test_the_message_size_of_bytes_input_is_its_length() -> None:
    limits = Limits(max_message_size=64)

    with pytest.raises(ProtocolError, match="exceeds"):
        load_message(_string_message(65).encode(), limits)


def test_an_oversize_message_aborts_the_session() -> None:
    session = Session(limits=Limits(max_message_size=64))

    with pytest.raises(ProtocolError):
        session.receive('["push","' + "a" * 100 + '"]')

    assert not session.is_open
    assert json.loads(session.take_outgoing()[-1])[0] == "abort"


# -- nesting depth --------------------------------------------------------------------------


def _nested_arrays(depth: int) -> str:
    return "[[" * depth + "1" + "]]" * depth


def _nested_calls(depth: int) -> str:
    return '["pipeline",0,["echo"],[' * depth + "1" + "]]" * depth


class _Echo(RpcTarget):
    def echo(self, value: Any) -> Any:
        return value


def test_nesting_255_deep_is_accepted() -> None:
    value = decode(_nested_arrays(255))

    for _ in range(254):
        value = value[0]
    assert value == [1]


def test_nesting_256_deep_is_refused() -> None:
    with pytest.raises(ProtocolError, match="depth"):
        decode(_nested_arrays(256))


def test_nesting_far_past_the_limit_is_refused_by_the_depth_check() -> None:
    with pytest.raises(ProtocolError, match="depth of 256"):
        decode(_nested_arrays(300))


def test_nested_objects_count_toward_depth() -> None:
    with pytest.raises(ProtocolError, match="depth of 8"):
        decode('{"a":' * 10 + "1" + "}" * 10, Limits(max_depth=8))


def test_objects_nested_to_the_limit_are_checked_at_their_scalar_leaf() -> None:
    # The leaf is a scalar, which the decoder does not visit one by one: its depth still counts.
    assert decode('{"a":' * 7 + "1" + "}" * 7, Limits(max_depth=8)) is not None
    with pytest.raises(ProtocolError, match="depth of 8"):
        decode('{"a":' * 8 + "1" + "}" * 8, Limits(max_depth=8))
    with pytest.raises(ProtocolError, match="depth of 8"):
        decode('{"a":' * 7 + "[[1]]" + "}" * 7, Limits(max_depth=8))


def test_nesting_inside_call_arguments_does_not_reset_depth() -> None:
    session = Session(_Echo(), limits=Limits(max_depth=8))

    with pytest.raises(ProtocolError, match="depth of 8"):
        session.receive(f'["push",{_nested_calls(9)}]')


def test_nested_call_arguments_within_the_limit_are_accepted() -> None:
    session = Session(_Echo())

    session.receive(f'["push",{_nested_calls(64)}]')

    assert session.is_open


def test_nested_call_arguments_up_to_max_depth_are_accepted() -> None:
    session = Session(_Echo())

    session.receive(f'["push",{_nested_calls(200)}]')

    assert session.is_open


# -- object keys the reference drops --------------------------------------------------------


@pytest.mark.parametrize("key", ["__proto__", "constructor", "toJSON", "hasOwnProperty"])
def test_a_javascript_prototype_key_is_dropped_from_decoded_objects(key: str) -> None:
    decoded = decode(json.dumps({key: 1, "kept": {key: 2, "ok": True}}))

    assert decoded == {"kept": {"ok": True}}


def test_a_stub_under_a_dropped_key_is_still_released() -> None:
    session = Session()
    session.receive('["push",{"__proto__":["export",-1]}]')

    gc.collect()

    assert '["release",-1,1]' in session.take_outgoing()
    assert session.stats() == {"imports": 1, "exports": 2}  # the push result stays until released
