"""Python values ⇄ Cap'n Web expressions.

The mapping (both directions unless noted):

=====================  ===========================================================
Python                 wire
=====================  ===========================================================
None, bool, str        JSON literal
int                    JSON number within ±(2**53-1); ``["bigint", "..."]`` beyond
float                  JSON number; ``["inf"]``, ``["-inf"]``, ``["nan"]``
dict (str keys)        JSON object
list (tuple → list)    ``[[...]]`` (an escaped array)
bytes (bytearray, mv)  ``["bytes", base64]``; every byte container type arrives as bytes
datetime               ``["date", ms]``; arrives timezone-aware in UTC; naive = local time
UNDEFINED              ``["undefined"]``
BaseException          ``["error", type, message, null?, props?]``; arrives as a DotDoError
RpcTarget, callable    ``["export", id]`` (passed by reference)
RpcStub / RpcPromise   ``["import"|"pipeline", id, path?]`` back to its owner, else exported
str (one way)          arrives from ``["url", href]``
list of pairs (one w)  arrives from ``["headers", [[name, value], ...]]``
=====================  ===========================================================

async iterable          ``["readable", id]`` after a ``["pipe"]``; arrives as an async iterator
(one way)              ``["writable", id]`` arrives as an ``RpcWritableStream``

``request``, ``response`` and ``blob`` are refused with a `ProtocolError`. Stack traces are never
sent. Every limit (depth, bigint size) raises `ProtocolError`.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dotdo.errors import DotDoError, ProtocolError, RpcError, error_from_wire
from dotdo.transport.hooks import Hook, Payload
from dotdo.transport.limits import Limits
from dotdo.transport.stub import RpcPromise, RpcStub
from dotdo.transport.target import JS_OBJECT_NAMES, RpcTarget
from dotdo.transport.wire import (
    MAX_SAFE_INTEGER,
    UNDEFINED,
    BigInt,
    format_bigint,
    parse_bigint,
)

if TYPE_CHECKING:
    from dotdo.transport.map import MapRecipe

__all__ = ["Decoder", "Encoder", "Exporter", "Importer", "encode_error"]

_JS_ERROR_TYPES = frozenset(
    {"Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError"}
)
_PYTHON_TO_JS_ERROR: dict[type[BaseException], str] = {
    TypeError: "TypeError",
    RecursionError: "RangeError",
}
_MAX_SEND_DEPTH = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Exporter:
    """What the encoder needs from a session: ways to put local things on the export table."""

    def encode_stub(self, stub: RpcStub) -> Any:
        """The expression for a stub or promise."""
        raise NotImplementedError

    def export_value(self, value: Any) -> int:
        """Export an `RpcTarget` or a callable by reference; returns its export id."""
        raise NotImplementedError

    def encode_readable(self, source: Any) -> list[Any]:
        """Send an async iterable as a stream; returns its ``["readable", id]`` expression."""
        raise TypeError("a stream cannot be sent here")

    def redact_error(self, error: BaseException) -> BaseException:
        """Give the application a chance to replace an error before it is sent."""
        return error


class Importer:
    """What the decoder needs from a session: the tables the peer's references point into."""

    limits: Limits

    def export_hook(self, export_id: int) -> Hook:
        """Our export the peer refers to; `ProtocolError` if there is none."""
        raise NotImplementedError

    def import_stub(self, import_id: int) -> Hook:
        """A hook for a capability the peer introduces."""
        raise NotImplementedError

    def import_promise(self, import_id: int) -> Hook:
        """A hook for a promise the peer introduces; it will resolve it unprompted."""
        raise NotImplementedError

    def remap_hook(self, export_id: int, path: tuple[str | int, ...], recipe: MapRecipe) -> Hook:
        """The result of a ``remap`` the peer asks for."""
        raise NotImplementedError

    def map_captures(self, captures: list[Any]) -> list[Hook]:
        """Hooks for a remap's capture list."""
        raise NotImplementedError

    def pipe_readable(self, export_id: int) -> Any:
        """The readable end of a pipe the peer opened (once)."""
        raise ProtocolError("a stream cannot be received here")


def encode_error(error: BaseException, exporter: Exporter | None) -> list[Any]:
    """The ``error`` expression for an exception, after the exporter's redaction, no stack."""
    if exporter is not None:
        error = exporter.redact_error(error)
    if isinstance(error, RpcError):
        type_name = error.remote_type if error.remote_type in _JS_ERROR_TYPES else "Error"
        return ["error", type_name, error.message]
    if isinstance(error, DotDoError):
        props = Encoder(None).encode(error.wire_props())
        return ["error", type(error).__name__, error.message, None, props]
    type_name = next(
        (_PYTHON_TO_JS_ERROR[cls] for cls in type(error).__mro__ if cls in _PYTHON_TO_JS_ERROR),
        "Error",
    )
    return ["error", type_name, str(error)]


class Encoder:
    """Turns one Python value into an expression, exporting what must go by reference."""

    __slots__ = ("_exporter",)

    def __init__(self, exporter: Exporter | None) -> None:
        self._exporter = exporter

    def encode(self, value: Any, depth: int = 0) -> Any:
        """The expression for ``value``; raises TypeError or ValueError for what cannot be sent."""
        kind = type(value)
        if kind is str or kind is bool or value is None:
            return value
        if kind is int:
            if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return value
            return ["bigint", format_bigint(value)]
        if kind is float:
            if math.isfinite(value):
                return value
            return ["nan"] if value != value else ["inf"] if value > 0 else ["-inf"]
        if depth >= _MAX_SEND_DEPTH:
            raise ValueError("value is nested too deeply to send (does it contain a cycle?)")
        if kind is dict:
            result: dict[str, Any] = {}
            for key, item in value.items():
                if type(key) is not str:
                    raise TypeError(
                        f"dict keys sent over RPC must be str, got {type(key).__name__}"
                    )
                result[key] = self.encode(item, depth + 1)
            return result
        if kind is list or kind is tuple:
            return [[self.encode(item, depth + 1) for item in value]]
        return self._encode_special(value, depth)

    def _encode_special(self, value: Any, depth: int) -> Any:
        if kind_is_bigint(value):
            return ["bigint", format_bigint(value)]
        # Subclasses (IntEnum, str enums, OrderedDict, NamedTuple, ...) go as their base type.
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return self.encode(int(value), depth)
        if isinstance(value, float):
            return self.encode(float(value), depth)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, dict):
            return self.encode(dict(value), depth)
        if isinstance(value, list | tuple):
            return self.encode(list(value), depth)
        if isinstance(value, bytes | bytearray | memoryview):
            return ["bytes", base64.b64encode(bytes(value)).decode("ascii")]
        if isinstance(value, datetime):
            return ["date", _datetime_to_ms(value)]
        if value is UNDEFINED:
            return ["undefined"]
        if isinstance(value, BaseException):
            return encode_error(value, self._exporter)
        if self._exporter is None:
            raise TypeError(f"cannot send {type(value).__name__} outside an RPC session")
        if isinstance(value, RpcStub):
            return self._exporter.encode_stub(value)
        if isinstance(value, RpcTarget) or (callable(value) and not isinstance(value, type)):
            return ["export", self._exporter.export_value(value)]
        if hasattr(value, "__aiter__"):
            return self._exporter.encode_readable(value)
        raise TypeError(f"cannot send a value of type {type(value).__name__} over RPC")


def all_plain(items: list[Any]) -> bool:
    """True when every item goes on the wire as it is: str, bool, None, safe int, finite float."""
    for item in items:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
            continue
        if kind is float and math.isfinite(item):
            continue
        return False
    return True


def kind_is_bigint(value: Any) -> bool:
    return type(value) is BigInt


def _datetime_to_ms(value: datetime) -> int | float:
    if value.tzinfo is None:
        value = value.astimezone(UTC)  # a naive datetime is local time, as Python reads it
    delta = value - _EPOCH
    whole = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    fraction = delta.microseconds % 1000
    return whole if not fraction else whole + fraction / 1000


JSON_SCALARS = frozenset({str, int, float, bool})
"""The types of JSON scalars as orjson gives them (None aside): they decode to themselves."""


class Decoder:
    """Turns one expression from the peer into a `Payload`, resolving references to hooks.

    Depth is counted across nested call arguments, as the reference does, so a peer cannot
    reset it by nesting calls.
    """

    __slots__ = ("_importer", "_limits", "_pending")

    def __init__(self, importer: Importer) -> None:
        self._importer = importer
        self._limits = importer.limits
        self._pending: list[tuple[Any, Any, Hook]] = []

    def decode(self, expression: Any, depth: int = 0) -> Payload:
        """Decode ``expression`` into a payload whose promises are listed for substitution."""
        holder: list[Any] = [None]
        holder[0] = self._value(expression, holder, 0, depth)
        pending, self._pending = self._pending, []
        return _Rooted(holder, pending) if pending else Payload(holder[0])

    def _value(self, value: Any, parent: Any, key: Any, depth: int) -> Any:
        # Checked before anything else, scalars included, as the reference does.
        if depth >= self._limits.max_depth:
            raise self._too_deep()
        kind = type(value)
        if kind in JSON_SCALARS or value is None:
            return value
        # Containers decode in place. Scalar members (most of them) are left as they are without
        # a call each: the depth check they would make is made once for the container.
        if kind is dict:
            if value and depth + 1 >= self._limits.max_depth:
                raise self._too_deep()
            unreachable: list[str] = []
            for item_key, item in value.items():  # replacing values keeps the iteration valid
                if type(item) not in JSON_SCALARS and item is not None:
                    value[item_key] = self._value(item, value, item_key, depth + 1)
                if item_key in JS_OBJECT_NAMES:
                    unreachable.append(item_key)
            for item_key in unreachable:
                del value[item_key]  # decoded first, so any stubs inside are still released
            return value
        if kind is list:
            if len(value) == 1 and type(value[0]) is list:
                items = value[0]
                if items and depth + 1 >= self._limits.max_depth:
                    raise self._too_deep()
                for index, item in enumerate(items):
                    if type(item) not in JSON_SCALARS and item is not None:
                        items[index] = self._value(item, items, index, depth + 1)
                return items
            return self._special(value, parent, key, depth)
        raise ProtocolError(f"unexpected JSON value of type {kind.__name__}")

    def _too_deep(self) -> ProtocolError:
        return ProtocolError(
            f"message exceeds the maximum nesting depth of {self._limits.max_depth}"
        )

    def _special(self, value: list[Any], parent: Any, key: Any, depth: int) -> Any:
        tag = value[0] if value else None
        size = len(value)
        if tag == "bigint" and size == 2:
            return parse_bigint(value[1], self._limits)
        if tag == "date" and size == 2:
            return _ms_to_datetime(value[1])
        if tag == "bytes" and size in (2, 3) and isinstance(value[1], str):
            text = value[1]
            try:
                # The reference strips base64 padding; put it back before strict decoding.
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise ProtocolError("bytes expression is not valid base64") from None
        if tag == "error" and size >= 3 and isinstance(value[1], str) and isinstance(value[2], str):
            return self._error(value, depth)
        if tag == "undefined" and size == 1:
            return UNDEFINED
        if tag == "inf" and size == 1:
            return math.inf
        if tag == "-inf" and size == 1:
            return -math.inf
        if tag == "nan" and size == 1:
            return math.nan
        if tag == "url" and size == 2 and isinstance(value[1], str):
            return value[1]
        if tag == "headers" and size == 2:
            return _headers(value[1])
        if tag in ("import", "pipeline"):
            return self._reference(value, parent, key, depth)
        if tag in ("export", "promise") and size == 2 and type(value[1]) is int:
            if tag == "export":
                return RpcStub(self._importer.import_stub(value[1]))
            return self._promise(self._importer.import_promise(value[1]), parent, key)
        if tag == "remap":
            return self._remap(value, parent, key)
        if tag == "readable" and size == 2 and type(value[1]) is int:
            return self._importer.pipe_readable(value[1])
        if tag == "writable" and size == 2 and type(value[1]) is int:
            from dotdo.transport.streams import RpcWritableStream

            return RpcWritableStream(self._importer.import_stub(value[1]))
        if tag in ("request", "response", "blob"):
            raise ProtocolError(f"the Python peer does not accept {tag!r} values")
        raise ProtocolError(f"unknown expression {str(tag)[:40]!r}")

    def _promise(self, hook: Hook, parent: Any, key: Any) -> RpcPromise:
        self._pending.append((parent, key, hook))
        return RpcPromise(hook)

    def _error(self, value: list[Any], depth: int) -> DotDoError:
        props: dict[str, Any] | None = None
        if len(value) >= 5:
            raw = value[4]
            if not isinstance(raw, dict):
                raise ProtocolError("error props must be an object")
            decoded = self._value(raw, value, 4, depth + 1)
            props = decoded if isinstance(decoded, dict) else None
        return error_from_wire(value[1], value[2], props)

    def _reference(self, value: list[Any], parent: Any, key: Any, depth: int) -> Any:
        size = len(value)
        if not 2 <= size <= 4 or type(value[1]) is not int:
            raise ProtocolError("malformed import/pipeline expression")
        hook = self._importer.export_hook(value[1])
        path = _path(value[2]) if size >= 3 else ()
        if size == 4:
            arguments = value[3]
            if type(arguments) is not list:
                raise ProtocolError("call arguments must be an array")
            # Decoded here rather than through decode(), to spend fewer Python frames per level
            # of nested calls: 256 levels must fit under the interpreter's recursion limit.
            inner = Decoder(self._importer)
            for index, item in enumerate(arguments):
                arguments[index] = inner._value(item, arguments, index, depth + 1)
            result = hook.call(path, Payload(arguments, inner._pending or None))
        elif path:
            result = hook.get(path)
        else:
            result = hook.dup()
        if value[0] == "import":
            return RpcStub(result)
        return self._promise(result, parent, key)

    def _remap(self, value: list[Any], parent: Any, key: Any) -> Any:
        from dotdo.transport.map import MapRecipe

        if (
            len(value) != 5
            or type(value[1]) is not int
            or type(value[3]) is not list
            or type(value[4]) is not list
        ):
            raise ProtocolError("malformed remap expression")
        path = _path(value[2])
        captures = self._importer.map_captures(value[3])
        recipe = MapRecipe(captures, value[4], self._limits)
        return self._promise(self._importer.remap_hook(value[1], path, recipe), parent, key)


class _Rooted(Payload):
    """A payload decoded inside a one-element holder, so the root itself can be substituted."""

    __slots__ = ("_holder",)

    def __init__(self, holder: list[Any], pending: list[tuple[Any, Any, Hook]]) -> None:
        super().__init__(holder[0], pending)
        self._holder = holder

    def deliver(self, ready: Any, failed: Any) -> None:
        holder = self._holder
        super().deliver(lambda _value: ready(holder[0]), failed)

    def root_promise(self) -> Hook | None:
        pending = self.pending
        if pending and len(pending) == 1 and pending[0][0] is self._holder:
            return pending[0][2]
        return None


def _path(raw: Any) -> tuple[str | int, ...]:
    if type(raw) is not list or not all(type(p) is str or type(p) is int for p in raw):
        raise ProtocolError("a property path must be an array of strings and integers")
    return tuple(raw)


def _ms_to_datetime(raw: Any) -> datetime | None:
    if raw is None:
        return None
    if type(raw) is not int and type(raw) is not float:
        raise ProtocolError("date expression needs a number of milliseconds")
    try:
        # timedelta keeps whole milliseconds exact; dividing by 1000 as a float would not.
        return _EPOCH + timedelta(milliseconds=raw)
    except (OverflowError, OSError, ValueError):
        raise ProtocolError("date is outside the range Python can represent") from None


def _headers(raw: Any) -> list[tuple[str, str]]:
    if type(raw) is not list or not all(
        type(pair) is list and len(pair) == 2 and all(type(part) is str for part in pair)
        for pair in raw
    ):
        raise ProtocolError("headers expression needs an array of [name, value] string pairs")
    return [(name, value) for name, value in raw]
