"""Hooks: what a stub points at, local or remote, settled or not.

A `Hook` accepts the four things a peer can do to a capability — get a property, call, map, and
pull (ask for the settled value) — and answers each with another hook, so calls on unsettled
results pipeline instead of waiting. `Node` is the local kind: a promise that settles to a Python
value, an error, or forwards to another hook. Operations that reach a `Node` before it settles are
queued and replayed in arrival order once it does (E-order). `RemoteHook` lives in `session.py`.

Nothing here does I/O; coroutines returned by application code are handed to the session's
`Scheduler`, which the driver supplies.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from dotdo.transport.stub import RpcPromise, RpcStub
from dotdo.transport.target import RpcTarget, is_data_key, rpc_member

if TYPE_CHECKING:
    from dotdo.transport.map import MapRecipe

__all__ = [
    "ErrorHook",
    "Hook",
    "Node",
    "Path",
    "Payload",
    "PullCallback",
    "Scheduler",
    "UnreachableMemberError",
    "unreachable",
]

Path = tuple[str | int, ...]
PullCallback = Callable[[bool, Any], None]
"""Called once with ``(True, value)`` or ``(False, exception)`` when a pulled hook settles."""


class Scheduler(Protocol):
    """What the async driver lends the sans-IO core: running coroutines and making futures."""

    def spawn(self, awaitable: Any, node: Node) -> None:
        """Run ``awaitable`` and settle ``node`` with its outcome."""

    def create_future(self) -> Any:
        """A future of the running event loop."""


class UnreachableMemberError(TypeError):
    """A missing or forbidden member. On the wire a plain ``TypeError``, as in the reference."""


def unreachable(name: object) -> TypeError:
    """The one error for every missing or forbidden member, so a peer cannot probe what exists."""
    return UnreachableMemberError(f"RPC target has no reachable member {name!r}")


class Hook:
    """Interface of everything a stub can point at."""

    __slots__ = ()

    def get(self, path: Path) -> Hook:
        """A hook for the property at ``path`` (sent or evaluated at once, never awaited)."""
        raise NotImplementedError

    def call(self, path: Path, args: Payload) -> Hook:
        """A hook for the result of calling the function at ``path``."""
        raise NotImplementedError

    def map(self, path: Path, recipe: MapRecipe) -> Hook:
        """A hook for the value at ``path`` with a recorded mapper applied to it."""
        raise NotImplementedError

    def stream(self, path: Path, args: Payload) -> Hook:
        """Like `call`, for stream writes: no pipelining on the result, no release needed."""
        return self.call(path, args)

    def pull(self, done: PullCallback) -> None:
        """Ask for the settled value; ``done`` is called exactly once."""
        raise NotImplementedError

    def try_pull(self) -> tuple[bool, Any] | None:
        """The outcome if it is already known, without side effects; else None."""
        return None

    def dup(self) -> Hook:
        """Another reference to the same thing, disposed separately."""
        return self

    def canonical(self) -> Hook:
        """The hook that really holds the reference (a batch's main hook names a session's)."""
        return self

    def dispose(self) -> None:
        """Drop this reference; remote imports are released when their last one goes."""

    def dispose_soon(self) -> None:
        """Like `dispose`, from a finalizer: may run at any point, so defer real work."""
        self.dispose()

    @property
    def scheduler(self) -> Scheduler | None:
        """The scheduler to await this hook with, when it may not settle synchronously."""
        return None


class ErrorHook(Hook):
    """A hook that has failed: every operation fails with the same error."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def get(self, path: Path) -> Hook:
        return self

    def call(self, path: Path, args: Payload) -> Hook:
        return self

    def map(self, path: Path, recipe: MapRecipe) -> Hook:
        return self

    def pull(self, done: PullCallback) -> None:
        done(False, self.error)

    def try_pull(self) -> tuple[bool, Any] | None:
        return (False, self.error)


class Payload:
    """A value on its way to delivery, with the promises inside it that must settle first.

    ``pending`` lists ``(container, key, hook)``: once ``hook`` settles, its value replaces
    ``container[key]``. Delivery is synchronous when nothing is pending, which keeps E-order.
    """

    __slots__ = ("_unscanned", "pending", "value")

    def __init__(self, value: Any, pending: list[tuple[Any, Any, Hook]] | None = None) -> None:
        self.value = value
        self.pending = pending
        self._unscanned = False

    @classmethod
    def from_app(cls, value: Any) -> Payload:
        """Wrap arguments made by Python code; any `RpcPromise` inside is found only if the
        payload is delivered locally (a remote call encodes promises as references instead)."""
        payload = cls.__new__(cls)  # every call's arguments: no __init__ call to then undo
        payload.value = value
        payload.pending = None
        payload._unscanned = True
        return payload

    def root_promise(self) -> Hook | None:
        """The hook, when the whole value is one promise (so it can be pipelined through)."""
        return None

    def deliver(
        self, ready: Callable[[Any], None], failed: Callable[[BaseException], None]
    ) -> None:
        """Substitute every pending promise, then call ``ready(value)`` (or ``failed`` once)."""
        if self._unscanned:
            self._unscanned = False
            found: list[tuple[Any, Any, Hook]] = []
            _find_promises(self.value, found, 0)
            self.pending = found or None
        pending = self.pending
        if not pending:
            ready(self.value)
            return
        self.pending = None
        remaining = [len(pending)]
        failed_already = [False]

        def settle_one(container: Any, key: Any, hook: Hook) -> PullCallback:
            def done(ok: bool, result: Any) -> None:
                if failed_already[0]:
                    return
                if not ok:
                    failed_already[0] = True
                    failed(result)
                    return
                container[key] = as_delivered(hook.scheduler, result)
                hook.dispose()
                remaining[0] -= 1
                if remaining[0] == 0:
                    ready(self.value)

            return done

        for container, key, hook in pending:
            hook.pull(settle_one(container, key, hook))


def as_delivered(scheduler: Scheduler | None, value: Any, depth: int = 0) -> Any:
    """A settled local value as application code must see it: local targets and functions as stubs.

    Containers are copied, never changed in place: the value may be shared with other holders.
    (Values from the peer already hold stubs; only local results can hold raw targets.)
    """
    if isinstance(value, RpcTarget) or (callable(value) and not isinstance(value, type | RpcStub)):
        return RpcStub(Node.of(scheduler, value))
    if depth < 64:
        if type(value) is dict:
            return {key: as_delivered(scheduler, item, depth + 1) for key, item in value.items()}
        if type(value) is list:
            return [as_delivered(scheduler, item, depth + 1) for item in value]
    return value


def _find_promises(value: Any, out: list[tuple[Any, Any, Hook]], depth: int) -> None:
    if depth > 64:
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, RpcPromise):
                out.append((value, index, item._owned_hook()))
            elif isinstance(item, list | dict):
                _find_promises(item, out, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, RpcPromise):
                out.append((value, key, item._owned_hook()))
            elif isinstance(item, list | dict):
                _find_promises(item, out, depth + 1)


_PENDING, _VALUE, _ERROR, _FORWARD = range(4)


class Node(Hook):
    """A local promise: settles once to a value or an error, or forwards to another hook."""

    __slots__ = ("_scheduler", "_state", "_value", "_waiters")

    def __init__(self, scheduler: Scheduler | None) -> None:
        self._scheduler = scheduler
        self._state = _PENDING
        self._value: Any = None
        self._waiters: list[Callable[[], None]] | None = None

    @classmethod
    def of(cls, scheduler: Scheduler | None, value: Any) -> Node:
        """A node already settled to ``value``."""
        node = cls.__new__(cls)  # every call's result is one: no __init__ call to then undo
        node._scheduler = scheduler
        node._state = _VALUE
        node._value = value
        node._waiters = None
        return node

    @property
    def scheduler(self) -> Scheduler | None:
        return self._scheduler

    @property
    def settled(self) -> bool:
        """True once the node has a value or an error (or forwards to another hook)."""
        return self._state != _PENDING

    # -- settling -------------------------------------------------------------------------

    def resolve(self, value: Any) -> None:
        """Settle to ``value``; a returned promise is followed rather than stored."""
        if self._state != _PENDING:
            return
        if isinstance(value, RpcPromise):
            self.become(value._owned_hook())
            return
        self._state = _VALUE
        self._value = value
        self._wake()

    def reject(self, error: BaseException) -> None:
        """Settle to ``error``."""
        if self._state != _PENDING:
            return
        self._state = _ERROR
        self._value = error
        self._wake()

    def become(self, hook: Hook) -> None:
        """Settle to whatever ``hook`` is: copied when known, forwarded to otherwise."""
        if self._state != _PENDING:
            hook.dispose()
            return
        if isinstance(hook, Node) and hook._state in (_VALUE, _ERROR):
            self._state = hook._state
            self._value = hook._value
        elif isinstance(hook, ErrorHook):
            self._state = _ERROR
            self._value = hook.error
        else:
            self._state = _FORWARD
            self._value = hook
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for waiter in waiters:
                waiter()

    def _later(self, action: Callable[[], None]) -> None:
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(action)

    # -- Hook -----------------------------------------------------------------------------

    def get(self, path: Path) -> Hook:
        state = self._state
        if state == _VALUE:
            return evaluate_path(self._scheduler, self._value, path, None)
        if state == _FORWARD:
            return self._value.get(path)  # type: ignore[no-any-return]
        if state == _ERROR:
            return ErrorHook(self._value)
        result = Node(self._scheduler)
        self._later(lambda: result.become(self.get(path)))
        return result

    def call(self, path: Path, args: Payload) -> Hook:
        state = self._state
        if state == _VALUE:
            return evaluate_path(self._scheduler, self._value, path, args)
        if state == _FORWARD:
            return self._value.call(path, args)  # type: ignore[no-any-return]
        if state == _ERROR:
            return ErrorHook(self._value)
        result = Node(self._scheduler)
        self._later(lambda: result.become(self.call(path, args)))
        return result

    def map(self, path: Path, recipe: MapRecipe) -> Hook:
        state = self._state
        if state == _VALUE:
            from dotdo.transport.map import apply_map

            target = evaluate_path(self._scheduler, self._value, path, None)
            result = Node(self._scheduler)
            target.pull(lambda ok, value: apply_map(result, ok, value, recipe))
            return result
        if state == _FORWARD:
            return self._value.map(path, recipe)  # type: ignore[no-any-return]
        if state == _ERROR:
            return ErrorHook(self._value)
        result = Node(self._scheduler)
        self._later(lambda: result.become(self.map(path, recipe)))
        return result

    def pull(self, done: PullCallback) -> None:
        state = self._state
        if state == _VALUE:
            done(True, self._value)
        elif state == _ERROR:
            done(False, self._value)
        elif state == _FORWARD:
            self._value.pull(done)
        else:
            self._later(lambda: self.pull(done))

    def try_pull(self) -> tuple[bool, Any] | None:
        state = self._state
        if state == _VALUE:
            return (True, self._value)
        if state == _ERROR:
            return (False, self._value)
        if state == _FORWARD:
            return self._value.try_pull()  # type: ignore[no-any-return]
        return None

    # A Node is shared rather than counted (dup returns self), so it never disposes what it
    # forwards to: a remote hook releases its import when it is garbage-collected.


def evaluate_path(
    scheduler: Scheduler | None, value: Any, path: Sequence[str | int], args: Payload | None
) -> Hook:
    """Walk ``path`` from a settled local ``value``, then read it (no args) or call it.

    Walking into a stub hands the rest of the path to that stub's hook, so calls on a capability
    received from the peer go back to the peer.
    """
    current = value
    try:
        for index, segment in enumerate(path):
            if isinstance(current, RpcStub):
                return _delegate(current, tuple(path[index:]), args)
            current = _step(current, segment)
        if isinstance(current, RpcStub):
            return _delegate(current, (), args)
    except Exception as error:
        return ErrorHook(error)
    if args is None:
        return Node.of(scheduler, current)
    return _invoke(scheduler, current, args)


def _delegate(stub: RpcStub, rest: Path, args: Payload | None) -> Hook:
    hook = stub._live_hook()
    path = (*stub._path, *rest)
    if args is None:
        return hook.get(path) if path else hook.dup()
    return hook.call(path, args)


def _step(current: Any, segment: str | int) -> Any:
    if isinstance(current, RpcTarget):
        found, member = rpc_member(current, segment)
        if not found:
            raise unreachable(segment)
        return member
    if isinstance(current, dict):
        # Plain data exposes its own keys, except the names the reference blocks on objects.
        if isinstance(segment, str) and segment in current and is_data_key(segment):
            return current[segment]
        raise unreachable(segment)
    if isinstance(current, list | tuple):
        if type(segment) is int and 0 <= segment < len(current):
            return current[segment]
        if segment == "length":
            return len(current)
        raise unreachable(segment)
    raise unreachable(segment)


def _invoke(scheduler: Scheduler | None, function: Any, args: Payload) -> Hook:
    if not callable(function) or isinstance(function, type | RpcTarget):
        return ErrorHook(TypeError("RPC target is not a function"))
    node = Node(scheduler)

    def ready(arguments: Any) -> None:
        try:
            result = function(*arguments)
        except Exception as error:
            node.reject(error)
            return
        if inspect.isawaitable(result) and not isinstance(result, RpcPromise):
            if scheduler is None:
                node.reject(RuntimeError("no event loop to run an async RPC method on"))
                return
            scheduler.spawn(result, node)
        else:
            node.resolve(result)

    args.deliver(ready, node.reject)
    return node
