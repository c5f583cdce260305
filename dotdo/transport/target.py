"""`RpcTarget`: the base class for objects a peer may call by reference.

Only what the class itself declares is reachable: public methods, properties and class-level
constants defined on the subclass (or a base between it and `RpcTarget`). Instance attributes,
names starting with ``_`` (which covers every dunder), and the JavaScript prototype names a
Cap'n Web peer might probe (``constructor``, ``toJSON``, ...) are never reachable. The allow-list is
built once, when the class is defined, so no wire-supplied name ever reaches ``getattr`` unchecked.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["JS_OBJECT_NAMES", "RpcTarget", "is_data_key", "is_reachable_name"]

# Names that exist on every JavaScript object (plus toJSON); refused for parity with the reference,
# which blocks them in paths and drops them from decoded objects.
JS_OBJECT_NAMES = frozenset(
    {
        "constructor",
        "__proto__",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toJSON",
        "toLocaleString",
        "toString",
        "valueOf",
    }
)


def is_reachable_name(name: object) -> bool:
    """True when ``name`` may ever be looked up on a peer's behalf (before any allow-list)."""
    return isinstance(name, str) and not name.startswith("_") and name not in JS_OBJECT_NAMES


def is_data_key(name: str) -> bool:
    """True when a peer may read this key of plain data (a dict): all but dunders and JS names."""
    return not name.startswith("__") and name not in JS_OBJECT_NAMES


class RpcTarget:
    """Subclass this to pass an object by reference: the peer gets a stub and calls its methods.

    Methods may be plain or ``async``. ``dispose()`` hooks are spelled ``_on_rpc_dispose`` so they
    are not themselves callable by the peer: it runs when the peer releases its last reference.

    Example::

        class Counter(RpcTarget):
            def __init__(self, start: int) -> None:
                self._value = start          # unreachable: instance attribute

            def increment(self, by: int = 1) -> int:
                self._value += by
                return self._value
    """

    __rpc_members__: ClassVar[frozenset[str]] = frozenset()
    """The names a peer may reach on instances of this class."""
    __rpc_attributes__: ClassVar[dict[str, Any]] = {}
    """Reachable name -> the class attribute (function, property, constant) it resolves to."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        members: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            if klass is RpcTarget or klass is object:
                continue
            for name, attribute in vars(klass).items():
                if is_reachable_name(name):
                    members[name] = attribute
        cls.__rpc_attributes__ = members
        cls.__rpc_members__ = frozenset(members)

    def _on_rpc_dispose(self) -> None:
        """Called once when the peer has released every reference to this object."""


def rpc_member(target: RpcTarget, name: object) -> tuple[bool, Any]:
    """Look up ``name`` on ``target`` if the class allows it.

    Returns ``(True, value)`` with methods bound, or ``(False, None)`` for anything unreachable:
    callers answer every miss with the same generic error so a peer cannot probe what exists.
    """
    cls = type(target)
    static = cls.__rpc_attributes__.get(name) if type(name) is str else None
    if static is None:
        return False, None
    # Bind the class attribute through the descriptor protocol, so an instance attribute that
    # shadows a method name is never what the peer reaches.
    binder = getattr(type(static), "__get__", None)
    if binder is None:
        return True, static
    return True, binder(static, target, cls)
