"""The JSON layer under Cap'n Web: parsing and printing one message, with its limits.

orjson is used because the codec is the hot path (about 8x stdlib ``json`` per message measured
here) and because it already refuses what JavaScript's ``JSON.parse`` refuses: ``NaN``/``Infinity``
literals and lone surrogates. Python ints are printed and parsed without touching the process-wide
4,300-digit ``int``/``str`` limit.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from dotdo.errors import ProtocolError
from dotdo.transport.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "MAX_SAFE_INTEGER",
    "UNDEFINED",
    "BigInt",
    "Undefined",
    "dump_message",
    "format_bigint",
    "load_message",
    "parse_bigint",
]

MAX_SAFE_INTEGER: Final = 2**53 - 1
_CHUNK_DIGITS: Final = 4_000  # below sys.int_info.default_max_str_digits (4,300)
_CHUNK_BASE: Final = 10**_CHUNK_DIGITS
_DECIMAL = re.compile(r"-?[0-9]+")


class BigInt(int):
    """An int that arrived as a JavaScript ``bigint``; it is sent back as one, whatever its size.

    It behaves as a plain int (arithmetic on it gives plain ints).
    """

    __slots__ = ()

    __str__ = int.__repr__

    def __repr__(self) -> str:
        return f"BigInt({int.__repr__(self)})"


class Undefined:
    """JavaScript's ``undefined``: the one value ``["undefined"]`` decodes to. Falsy, like None."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = Undefined()


def load_message(data: str | bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse one message; raise `ProtocolError` for oversize or invalid JSON."""
    size = len(data) if isinstance(data, bytes) else _utf8_length(data)
    if size > limits.max_message_size:
        raise ProtocolError(
            f"message of {size} bytes exceeds the limit of {limits.max_message_size} bytes"
        )
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"message is not valid JSON: {exc.msg}") from None


def dump_message(message: Any) -> str:
    """Print one message as compact JSON text (no newlines, so it can travel in an HTTP batch)."""
    return orjson.dumps(message).decode()


def _utf8_length(text: str) -> int:
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ProtocolError("message contains a lone surrogate") from None


def parse_bigint(digits: object, limits: Limits = DEFAULT_LIMITS) -> BigInt:
    """Parse the decimal string of a ``["bigint", ...]`` expression, bounded by the limit."""
    if not isinstance(digits, str):
        raise ProtocolError("bigint must be a decimal string")
    if len(digits) > limits.max_bigint_digits:
        raise ProtocolError(
            f"bigint of {len(digits)} characters exceeds the limit of {limits.max_bigint_digits}"
        )
    if not _DECIMAL.fullmatch(digits):
        raise ProtocolError("bigint must be a decimal string")
    negative = digits.startswith("-")
    body = digits[1:] if negative else digits
    value = 0
    head = len(body) % _CHUNK_DIGITS or _CHUNK_DIGITS
    value = int(body[:head])
    for start in range(head, len(body), _CHUNK_DIGITS):
        value = value * _CHUNK_BASE + int(body[start : start + _CHUNK_DIGITS])
    return BigInt(-value if negative else value)


def format_bigint(value: int) -> str:
    """Print an int in decimal, however many digits, without the process-wide digit limit."""
    if -_CHUNK_BASE < value < _CHUNK_BASE:
        return str(value)
    sign = "-" if value < 0 else ""
    value = abs(value)
    chunks: list[int] = []
    while value:
        value, chunk = divmod(value, _CHUNK_BASE)
        chunks.append(chunk)
    head = str(chunks[-1])
    return sign + head + "".join(str(chunk).zfill(_CHUNK_DIGITS) for chunk in reversed(chunks[:-1]))
