"""The RPC boundary: authorize, then validate every argument, failing closed.

A peer can send any value where a method declares a type: a stub, a float where a string is
declared, a megabyte of text, a dict with extra keys. :func:`endpoint` turns each method's type
hints into a strict pydantic schema and refuses anything that does not match with a
:class:`~dotdo.errors.ValidationError` naming the argument. Strings must also be valid UTF-8 (no
lone surrogates) and numbers finite, all the way down nested values.

Arguments are positional-or-keyword on purpose: Cap'n Web calls carry only a positional list, so
every parameter, including the trailing ``idempotency_key``, must be reachable by position, with
``null`` meaning "not given".
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Concatenate, ParamSpec, Protocol, TypeVar

import pydantic
import typing_extensions
from pydantic import AfterValidator, ConfigDict, PlainValidator, StringConstraints, TypeAdapter

from dotdo.errors import ValidationError

__all__ = [
    "IdempotencyKey",
    "Identifier",
    "SqlValue",
    "endpoint",
    "strict_config",
    "utf8_at_most",
]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="_Authorizing")


class _Authorizing(Protocol):
    async def _authorize(self, scope: str | None) -> None: ...


strict_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]
"""1–255 printable ASCII characters, no spaces; a UUID is a good choice."""

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
"""A SQL table or column name: a letter or underscore, then letters, digits, underscores."""


def _sql_value(value: object) -> object:
    # Checked by exact type rather than as a pydantic union, which would quietly turn an integer
    # too large for SQLite into a float.
    if value is None or isinstance(value, str | bytes | bool | float):
        return value
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return value
        raise ValueError("integers must fit in 64 bits")
    raise ValueError("must be a string, integer, float, boolean, bytes or null")


SqlValue = Annotated[str | int | float | bool | bytes | None, PlainValidator(_sql_value)]
"""What a SQL parameter or column value may be: text, 64-bit integer, float, bool, bytes, null."""


def endpoint(
    scope: str | None = None,
) -> Callable[
    [Callable[Concatenate[S, P], Awaitable[R]]], Callable[Concatenate[S, P], Awaitable[R]]
]:
    """Make an async method a checked RPC entry point.

    On each call: ``await self._authorize(scope)`` (expired or revoked credentials fail before any
    argument is looked at), then the arguments are bound to the signature and validated strictly
    against its type hints, and only then does the method body run with the validated values.

    Args:
        scope: the permission the caller needs, or None for methods any caller may use.
    """

    def decorate(
        method: Callable[Concatenate[S, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, P], Awaitable[R]]:
        signature = inspect.signature(method)
        adapter = _arguments_adapter(method, signature)
        name = method.__name__

        @functools.wraps(method)
        async def checked(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            await self._authorize(scope)
            arguments = _validate(name, signature, adapter, self, args, kwargs)
            return await method(self, **arguments)  # type: ignore[call-arg]

        return checked

    return decorate


def _arguments_adapter(
    method: Callable[..., Any], signature: inspect.Signature
) -> TypeAdapter[dict[str, Any]]:
    # Only the parameters are resolved: a return annotation may name a class not defined yet.
    annotations = {k: v for k, v in method.__annotations__.items() if k != "return"}
    holder = type("_ParameterHints", (), {"__annotations__": annotations})
    hints = typing.get_type_hints(holder, globalns=method.__globals__, include_extras=True)
    fields = {
        parameter: hints.get(parameter, Any)
        for parameter in list(signature.parameters)[1:]  # skip self
    }
    # typing_extensions' TypedDict: pydantic refuses typing's on Python < 3.12.
    shape = typing_extensions.TypedDict(  # type: ignore[misc]
        f"{method.__qualname__}.arguments", fields
    )
    strict_shape: Any = pydantic.with_config(strict_config)(shape)
    return TypeAdapter[dict[str, Any]](strict_shape)


def _validate(
    name: str,
    signature: inspect.Signature,
    adapter: TypeAdapter[dict[str, Any]],
    target: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    try:
        bound = signature.bind(target, *args, **kwargs)
    except TypeError as exc:
        raise ValidationError(f"{name}(): {exc}") from None
    bound.apply_defaults()
    values = dict(bound.arguments)
    values.pop(next(iter(signature.parameters)))
    try:
        validated = adapter.validate_python(values)
    except pydantic.ValidationError as exc:
        raise ValidationError(_describe(name, exc), details={"errors": _summaries(exc)}) from None
    for argument, value in validated.items():
        _check_text_and_numbers(value, argument, name)
    return validated


def _location(loc: tuple[int | str, ...]) -> str:
    text = str(loc[0]) if loc else "arguments"
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _summaries(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    # Never the input value: it may be a password or a secret.
    return [
        {"argument": _location(error["loc"]), "problem": error["msg"]}
        for error in exc.errors(include_url=False, include_input=False)[:10]
    ]


def _describe(name: str, exc: pydantic.ValidationError) -> str:
    problems = _summaries(exc)
    text = "; ".join(f"{p['argument']}: {p['problem']}" for p in problems[:3])
    more = exc.error_count() - 3
    if more > 0:
        text += f"; and {more} more"
    return f"invalid arguments to {name}(): {text}"


def _check_text_and_numbers(value: Any, where: str, name: str) -> None:
    """Refuse lone surrogates (unstorable) and non-finite floats, however deeply nested."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                f"invalid arguments to {name}(): {where}: text is not valid Unicode"
            ) from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"invalid arguments to {name}(): {where}: number must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text_and_numbers(key, where, name)
            _check_text_and_numbers(item, f"{where}.{key}", name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_text_and_numbers(item, f"{where}[{index}]", name)


def utf8_at_most(limit: int, what: str) -> AfterValidator:
    """A validator refusing strings longer than ``limit`` bytes of UTF-8."""

    def check(value: str) -> str:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(f"{what} is not valid Unicode") from None
        if size > limit:
            raise ValueError(f"{what} is longer than {limit} bytes (UTF-8)")
        return value

    return AfterValidator(check)
