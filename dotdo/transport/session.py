"""The Cap'n Web session: import and export tables and every protocol message, without I/O.

Feed each message from the peer to `Session.receive`; collect what to send with
`Session.take_outgoing` whenever `on_outgoing` says there is something. Application coroutines
run through the `Scheduler` the driver installs. Nothing here touches a socket, a clock or an
event loop, which keeps the core testable with plain calls and fuzzable.

ID rules (the spec's): the side that pushes picks the next positive id for the result; the side
that exports picks the next negative id; 0 is each side's main object. IDs are never reused.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from dotdo.errors import (
    CapabilityError,
    DotDoConnectionError,
    DotDoError,
    ProtocolError,
)
from dotdo.transport.codec import (
    JSON_SCALARS,
    Decoder,
    Encoder,
    Exporter,
    Importer,
    all_plain,
    encode_error,
)
from dotdo.transport.hooks import ErrorHook, Hook, Node, Path, Payload, PullCallback, Scheduler
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.map import MapRecipe
from dotdo.transport.streams import RpcReadableStream, new_pipe_export, pump
from dotdo.transport.stub import RpcMainStub, RpcPromise, RpcStub
from dotdo.transport.target import RpcTarget
from dotdo.transport.wire import dump_message, load_message

__all__ = ["RemoteHook", "Session"]

logger = logging.getLogger("dotdo.transport")


class _Export:
    __slots__ = ("auto_release", "hook", "key", "pulled", "refcount")

    def __init__(self, hook: Hook, key: Any = None, *, auto_release: bool = False) -> None:
        self.hook = hook
        self.refcount = 1
        self.pulled = False
        self.auto_release = auto_release
        self.key = key  # the exported object, for reuse of its id and its dispose hook


class _Import:
    __slots__ = ("id", "local_refs", "pulling", "remote_refs", "resolution", "waiters")

    def __init__(self, import_id: int) -> None:
        self.id = import_id
        self.remote_refs = 1
        self.local_refs = 0
        self.pulling = False
        self.resolution: Hook | None = None
        self.waiters: list[PullCallback] | None = None


class RemoteHook(Hook):
    """One local reference to an entry of the import table."""

    __slots__ = ("_disposed", "entry", "session")

    def __init__(self, session: Session, entry: _Import) -> None:
        self.session = session
        self.entry = entry
        self._disposed = False
        entry.local_refs += 1

    @property
    def scheduler(self) -> Scheduler | None:
        return self.session.scheduler

    def get(self, path: Path) -> Hook:
        if self._disposed:
            return _disposed_hook()
        resolution = self.entry.resolution
        if resolution is not None:
            return resolution.get(path)
        return self.session._send_call(self.entry.id, path, None)

    def call(self, path: Path, args: Payload) -> Hook:
        if self._disposed:
            return _disposed_hook()
        resolution = self.entry.resolution
        if resolution is not None:
            return resolution.call(path, args)
        return self.session._send_call(self.entry.id, path, args)

    def map(self, path: Path, recipe: MapRecipe) -> Hook:
        if self._disposed:
            return _disposed_hook()
        resolution = self.entry.resolution
        if resolution is not None:
            return resolution.map(path, recipe)
        return self.session._send_map(self.entry.id, path, recipe)

    def stream(self, path: Path, args: Payload) -> Hook:
        if self._disposed:
            return _disposed_hook()
        resolution = self.entry.resolution
        if resolution is not None:
            return resolution.call(path, args)
        return self.session._send_call(self.entry.id, path, args, kind="stream")

    def pull(self, done: PullCallback) -> None:
        entry = self.entry
        if entry.resolution is not None:
            entry.resolution.pull(done)
            return
        if entry.waiters is None:
            entry.waiters = []
        entry.waiters.append(done)
        if not entry.pulling:
            entry.pulling = True
            self.session._send_pull(entry.id)

    def try_pull(self) -> tuple[bool, Any] | None:
        resolution = self.entry.resolution
        return None if resolution is None else resolution.try_pull()

    def dup(self) -> Hook:
        return RemoteHook(self.session, self.entry)

    def dispose(self) -> None:
        if not self._disposed:
            self._disposed = True
            self.session._drop_import_ref(self.entry)

    def dispose_soon(self) -> None:
        if not self._disposed:
            self._disposed = True
            entry = self.entry
            if entry.resolution is not None:
                # Settled imports were released already: only the count changes, which is safe
                # from a finalizer and needs no flush (the common case: every call's result).
                entry.local_refs -= 1
            else:
                self.session._drop_import_ref_later(entry)

    def __del__(self) -> None:
        if not self._disposed:
            self.dispose_soon()


class Session(Importer, Exporter):
    """One Cap'n Web session between this process and one peer.

    Args:
        main: what the peer's import 0 refers to (usually an `RpcTarget`), or None.
        limits: receive-side limits; breaking one aborts the session with `ProtocolError`.
        redact_error: called with every error before it is sent; return a replacement to hide
            details (the default sends type and message, never a stack trace).
    """

    def __init__(
        self,
        main: Any = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        redact_error: Callable[[BaseException], BaseException] | None = None,
    ) -> None:
        self.limits = limits
        self.scheduler: Scheduler | None = None
        self.on_outgoing: Callable[[], None] | None = None
        """Called (once per batch) when messages wait in the outbox; the driver flushes."""
        self.on_waiting: Callable[[], bool] | None = None
        """Called after a pull is queued: a caller waits on it, so a driver may write at once.
        Returns True if it wrote the outbox; otherwise `on_outgoing` follows."""
        self.on_call: Callable[[], bool] | None = None
        """Called after application code queues a call: a driver may write it at once.
        Returns True if it wrote the outbox; otherwise `on_outgoing` follows."""
        self.on_idle: Callable[[], None] | None = None
        """Called whenever the last result the peer pulled has been sent."""
        self._redact = redact_error
        self._outbox: list[str] = []
        self._flush_requested = False
        self._deferred_drops: deque[_Import] = deque()
        self._exports: dict[int, _Export] = {}
        self._export_ids: dict[int, int] = {}  # id(object) -> export id, for reuse
        self._imports: dict[int, _Import] = {}
        self._next_export_id = -1
        self._next_import_id = 1
        self._next_peer_push_id = 1
        self._pending_pulls = 0
        self._pipe_readables: dict[int, RpcReadableStream] = {}
        self._export_log: list[int] | None = None
        self._after_send: list[Callable[[], None]] = []
        self._broken_callbacks: list[Callable[[BaseException], None]] = []
        self.abort_reason: BaseException | None = None

        main_hook: Hook = (
            Node.of(None, main)
            if main is not None
            else ErrorHook(CapabilityError("this side of the session has no main object"))
        )
        self._exports[0] = _Export(main_hook)
        main_import = _Import(0)
        self._imports[0] = main_import
        self._main_hook = RemoteHook(self, main_import)
        main_import.local_refs += 1  # the session itself keeps the peer's main object

    def attach(self, scheduler: Scheduler) -> None:
        """Install the driver's scheduler (the main object's node uses it too)."""
        self.scheduler = scheduler
        main = self._exports[0].hook
        if isinstance(main, Node):
            main._scheduler = scheduler

    # -- public surface -------------------------------------------------------------------

    def main_stub(self) -> RpcStub:
        """A stub for the peer's main object (its export 0)."""
        return RpcMainStub(self._main_hook.dup())

    @property
    def is_open(self) -> bool:
        """True until the session is aborted (``abort_reason`` then says why)."""
        return self.abort_reason is None

    @property
    def pending_pulls(self) -> int:
        """Results the peer asked for that have not been sent yet."""
        return self._pending_pulls

    def stats(self) -> dict[str, int]:
        """Sizes of the import and export tables (each starts at 1: the main objects)."""
        self._process_deferred()
        return {"imports": len(self._imports), "exports": len(self._exports)}

    def on_broken(self, callback: Callable[[BaseException], None]) -> None:
        """Call ``callback(error)`` once when the session ends abnormally."""
        if self.abort_reason is not None:
            callback(self.abort_reason)
        else:
            self._broken_callbacks.append(callback)

    def take_outgoing(self) -> list[str]:
        """Messages to send now, in order (each is one JSON text)."""
        self._flush_requested = False
        if self._deferred_drops:
            self._process_deferred()
        messages, self._outbox = self._outbox, []
        return messages

    def receive(self, data: str | bytes) -> None:
        """Handle one message from the peer.

        Raises:
            ProtocolError: the message broke the protocol or a limit; the session is aborted
                (an ``abort`` message is queued for the peer) before this is raised.
        """
        if self.abort_reason is not None:
            return
        try:
            message = load_message(data, self.limits)
            self._dispatch(message)
        except ProtocolError as error:
            self.abort(error)
            raise
        except RecursionError:
            too_deep = ProtocolError("message is nested too deeply")
            self.abort(too_deep)
            raise too_deep from None

    def abort(self, reason: BaseException, *, notify_peer: bool = True) -> None:
        """End the session: tell the peer why, fail every pending call, drop every export."""
        if self.abort_reason is not None:
            return
        if notify_peer:
            try:
                self._outbox.append(dump_message(["abort", encode_error(reason, self)]))
                self._request_flush()
            except Exception:
                logger.debug("could not encode the abort reason", exc_info=True)
        self.abort_reason = reason
        if isinstance(reason, DotDoError):
            in_flight: BaseException = reason
        else:
            in_flight = DotDoConnectionError(f"the RPC session ended: {reason}")
        for callback in self._broken_callbacks:
            try:
                callback(in_flight)
            except Exception:
                logger.exception("on_broken callback failed")
        self._broken_callbacks.clear()
        imports, self._imports = self._imports, {}
        for entry in imports.values():
            if entry.resolution is None:
                entry.resolution = ErrorHook(in_flight)
                self._wake_import(entry, False, in_flight)
        exports, self._exports = self._exports, {}
        for export in exports.values():
            _dispose_export(export)
        self._export_ids.clear()
        if self.on_idle is not None:
            self.on_idle()

    # -- outgoing -------------------------------------------------------------------------

    def _send(self, message: list[Any], *, flush: bool = True) -> None:
        self._send_text(dump_message(message), flush=flush)

    def _send_text(self, text: str, *, flush: bool = True) -> None:
        self._outbox.append(text)
        if flush:
            self._request_flush()
        if self._after_send:
            actions, self._after_send = self._after_send, []
            for action in actions:
                action()

    def _request_flush(self) -> None:
        if not self._flush_requested:
            self._flush_requested = True
            if self.on_outgoing is not None:
                self.on_outgoing()

    def _dead_hook(self) -> Hook:
        return ErrorHook(CapabilityError(f"the RPC session has ended: {self.abort_reason}"))

    def _new_import(self) -> tuple[_Import, RemoteHook]:
        import_id = self._next_import_id
        self._next_import_id += 1
        entry = _Import(import_id)
        self._imports[import_id] = entry
        return entry, RemoteHook(self, entry)

    def _send_call(
        self, import_id: int, path: Path, args: Payload | None, *, kind: str = "push"
    ) -> Hook:
        if self.abort_reason is not None:
            return self._dead_hook()
        expression: list[Any] = ["pipeline", import_id, list(path)]
        if args is not None:
            arguments = args.value
            # Scalars, the arguments of most calls, go as they are; anything else is encoded.
            if type(arguments) is not list or not all_plain(arguments):
                try:
                    arguments = self._encode(arguments)[0]
                except Exception as error:  # an argument that cannot be sent fails this call only
                    return ErrorHook(error)
            expression.append(arguments)
        self._send([kind, expression], flush=False)
        entry, hook = self._new_import()
        if kind == "stream":
            # A stream result is pulled without asking and released without a release message.
            entry.pulling = True
            entry.remote_refs = 0
        # Last: a failed write aborts the session, which must see the import.
        if self.on_call is None or not self.on_call():
            self._request_flush()
        return hook

    def _send_map(self, import_id: int, path: Path, recipe: MapRecipe) -> Hook:
        if self.abort_reason is not None:
            return self._dead_hook()
        captures = [self._capture_expression(hook) for hook in recipe.captures]
        self._send(["push", ["remap", import_id, list(path), captures, recipe.instructions]])
        return self._new_import()[1]

    def _capture_expression(self, hook: Hook) -> list[Any]:
        hook = hook.canonical()
        if isinstance(hook, RemoteHook) and hook.session is self and hook.entry.resolution is None:
            return ["import", hook.entry.id]
        return ["export", self._export_hook(hook, key=hook, dup=True)]

    def _send_pull(self, import_id: int) -> None:
        if self.abort_reason is None:
            self._send_text(f'["pull",{import_id}]', flush=False)
            # A pull means a caller is about to wait: the driver may write now rather than a
            # loop turn later (it does so once per turn, so bursts still go out together).
            if self.on_waiting is None or not self.on_waiting():
                self._request_flush()

    def _drop_import_ref(self, entry: _Import) -> None:
        entry.local_refs -= 1
        if entry.local_refs > 0 or self.abort_reason is not None:
            return
        if entry.resolution is None and self._imports.get(entry.id) is entry:
            del self._imports[entry.id]
            if entry.remote_refs > 0:  # a stream result holds none: the peer releases it
                self._send_release(entry)

    def _send_release(self, entry: _Import) -> None:
        self._send_text(f'["release",{entry.id},{entry.remote_refs}]')
        entry.remote_refs = 0

    def _drop_import_ref_later(self, entry: _Import) -> None:
        # Called from finalizers, which may run in the middle of any other session code.
        self._deferred_drops.append(entry)
        self._request_flush()

    def _process_deferred(self) -> None:
        drops = self._deferred_drops
        while drops:
            self._drop_import_ref(drops.popleft())

    # -- Exporter: how our values go out --------------------------------------------------

    def redact_error(self, error: BaseException) -> BaseException:
        if self._redact is None:
            return error
        return self._redact(error)

    def encode_stub(self, stub: RpcStub) -> Any:
        hook = stub._live_hook().canonical()
        path = stub._path
        if (
            isinstance(hook, RemoteHook)
            and hook.session is self
            and hook.entry.resolution is None
            and hook.entry.id in self._imports
        ):
            if isinstance(stub, RpcPromise):
                return (
                    ["pipeline", hook.entry.id, list(path)] if path else ["pipeline", hook.entry.id]
                )
            return ["import", hook.entry.id]
        if isinstance(stub, RpcPromise):
            return ["promise", self._export_promise(hook.get(path) if path else hook.dup())]
        # The export holds its own reference: the caller's stub stays usable when the peer
        # releases this one.
        return ["export", self._export_hook(hook, key=hook, dup=True)]

    def encode_readable(self, source: Any) -> list[Any]:
        """Open a pipe to the peer, start pumping ``source`` into it, name its readable end."""
        scheduler = self.scheduler
        if scheduler is None or self.abort_reason is not None:
            raise TypeError("a stream can only be sent on an open, running session")
        self._send(["pipe"])
        entry, hook = self._new_import()
        scheduler.spawn(pump(source, hook), Node(None))
        return ["readable", entry.id]

    def export_value(self, value: Any) -> int:
        known = self._export_ids.get(id(value))
        if known is not None:
            self._exports[known].refcount += 1
            return known
        return self._export_hook(Node.of(self.scheduler, value), key=value)

    def _export_hook(self, hook: Hook, *, key: Any, dup: bool = False) -> int:
        known = self._export_ids.get(id(key))
        if known is not None:
            self._exports[known].refcount += 1
            self._log_export(known)
            return known
        self._check_export_room()
        export_id = self._next_export_id
        self._next_export_id -= 1
        # The export keeps ``key`` alive, so its id() cannot be reused while the entry exists.
        self._exports[export_id] = _Export(hook.dup() if dup else hook, key)
        self._export_ids[id(key)] = export_id
        self._log_export(export_id)
        return export_id

    def _export_promise(self, hook: Hook) -> int:
        self._check_export_room()
        export_id = self._next_export_id
        self._next_export_id -= 1
        export = _Export(hook)
        self._exports[export_id] = export
        self._log_export(export_id)
        # Resolving may finish at once; the resolve must follow the message naming the promise.
        self._after_send.append(lambda: self._start_resolving(export_id, export))
        return export_id

    def _log_export(self, export_id: int) -> None:
        if self._export_log is not None:
            self._export_log.append(export_id)

    def _encode(self, value: Any) -> Any:
        """Encode a value for one message; if it fails midway, undo the exports it made."""
        log: list[int] = []
        self._export_log = log
        try:
            return Encoder(self).encode(value)
        except BaseException:
            self._after_send.clear()
            for export_id in reversed(log):
                if export_id in self._exports:
                    self._release_export(export_id, 1)
            raise
        finally:
            self._export_log = None

    def _check_export_room(self) -> None:
        if len(self._exports) >= self.limits.max_exports:
            raise ProtocolError(f"the peer holds more than {self.limits.max_exports} exports")

    # -- Importer: how the peer's references come in ----------------------------------------

    def export_hook(self, export_id: int) -> Hook:
        export = self._exports.get(export_id)
        if export is None:
            raise ProtocolError(f"no such export: {export_id}")
        return export.hook

    def import_stub(self, import_id: int) -> Hook:
        return RemoteHook(self, self._introduce(import_id, promise=False))

    def import_promise(self, import_id: int) -> Hook:
        entry = self._introduce(import_id, promise=True)
        entry.pulling = True  # the peer resolves promises it sends without being asked
        return RemoteHook(self, entry)

    def _introduce(self, import_id: int, *, promise: bool) -> _Import:
        if import_id >= 0:
            raise ProtocolError(f"the peer may only introduce negative ids, got {import_id}")
        entry = self._imports.get(import_id)
        if entry is not None:
            if promise:
                raise ProtocolError(f"the peer reused id {import_id} for a promise")
            entry.remote_refs += 1
            return entry
        if len(self._imports) >= self.limits.max_imports:
            raise ProtocolError(f"the peer introduced more than {self.limits.max_imports} imports")
        entry = _Import(import_id)
        self._imports[import_id] = entry
        return entry

    def remap_hook(self, export_id: int, path: Path, recipe: MapRecipe) -> Hook:
        return self.export_hook(export_id).map(path, recipe)

    def pipe_readable(self, export_id: int) -> RpcReadableStream:
        readable = self._pipe_readables.pop(export_id, None)
        if readable is None:
            raise ProtocolError(f"export {export_id} is not a pipe, or its readable end was taken")
        return readable

    def map_captures(self, captures: list[Any]) -> list[Hook]:
        hooks: list[Hook] = []
        for capture in captures:
            if type(capture) is not list or len(capture) != 2 or type(capture[1]) is not int:
                raise ProtocolError('a remap capture must be ["import"|"export", id]')
            if capture[0] == "import":
                hooks.append(self.export_hook(capture[1]).dup())
            elif capture[0] == "export":
                hooks.append(self.import_stub(capture[1]))
            else:
                raise ProtocolError('a remap capture must be ["import"|"export", id]')
        return hooks

    # -- incoming -------------------------------------------------------------------------

    def _dispatch(self, message: Any) -> None:
        if type(message) is not list or not message or type(message[0]) is not str:
            raise ProtocolError("a message must be an array starting with its type")
        kind = message[0]
        size = len(message)
        if kind == "push" and size == 2:
            self._on_push(message[1], stream=False)
        elif kind == "pull" and size == 2 and type(message[1]) is int:
            self._on_pull(message[1])
        elif kind in ("resolve", "reject") and size == 3 and type(message[1]) is int:
            self._on_settle(message[1], kind == "resolve", message[2])
        elif (
            kind == "release" and size == 3 and type(message[1]) is int and type(message[2]) is int
        ):
            self._on_release(message[1], message[2])
        elif kind == "stream" and size == 2:
            self._on_push(message[1], stream=True)
        elif kind == "abort" and size == 2:
            self._on_abort(message[1])
        elif kind == "pipe" and size == 1:
            self._on_pipe()
        else:
            raise ProtocolError(f"malformed or unknown message {kind[:20]!r}")

    def _on_push(self, expression: Any, *, stream: bool) -> None:
        export_id = self._next_peer_push_id
        self._next_peer_push_id += 1
        self._check_export_room()
        payload = Decoder(self).decode(expression)
        hook = payload.root_promise()
        if hook is None:
            node = Node(self.scheduler)
            payload.deliver(node.resolve, node.reject)
            hook = node
        export = _Export(hook, auto_release=stream)
        self._exports[export_id] = export
        if stream:
            self._start_resolving(export_id, export)

    def _on_pipe(self) -> None:
        export_id = self._next_peer_push_id
        self._next_peer_push_id += 1
        self._check_export_room()
        node, sink, readable = new_pipe_export(self.scheduler)
        self._exports[export_id] = _Export(node, sink)
        self._pipe_readables[export_id] = readable

    def _on_pull(self, export_id: int) -> None:
        export = self._exports.get(export_id)
        if export is None:
            raise ProtocolError(f"pull of unknown export {export_id}")
        self._start_resolving(export_id, export)

    def _start_resolving(self, export_id: int, export: _Export) -> None:
        if export.pulled:
            return
        if self._pending_pulls >= self.limits.max_pending_pulls:
            raise ProtocolError(f"more than {self.limits.max_pending_pulls} pending pulls")
        export.pulled = True
        self._pending_pulls += 1
        export.hook.pull(lambda ok, value: self._send_settlement(export_id, export, ok, value))

    def _send_settlement(self, export_id: int, export: _Export, ok: bool, value: Any) -> None:
        self._pending_pulls -= 1
        if self.abort_reason is None:
            try:
                if ok:
                    self._send(["resolve", export_id, self._encode(value)])
                else:
                    self._send(["reject", export_id, encode_error(_as_error(value), self)])
            except Exception as error:
                self._send(["reject", export_id, encode_error(error, self)])
            if export.auto_release and self._exports.get(export_id) is export:
                self._release_export(export_id, 1)
        if self._pending_pulls == 0 and self.on_idle is not None:
            self.on_idle()

    def _on_settle(self, import_id: int, ok: bool, expression: Any) -> None:
        entry = self._imports.get(import_id)
        kind = type(expression)
        if ok and (kind in JSON_SCALARS or expression is None):
            # The common result, a plain JSON scalar, needs no decoding.
            if entry is not None and entry.resolution is None:
                self._settle_import(entry, Node.of(self.scheduler, expression), True, expression)
            return
        payload = Decoder(self).decode(expression)
        if entry is None or entry.resolution is not None:
            return  # released already: the stubs inside are dropped with the payload
        if not ok:
            error = _as_error(payload.value)
            self._settle_import(entry, ErrorHook(error), False, error)
            return
        payload.deliver(
            lambda value: self._settle_import(entry, Node.of(self.scheduler, value), True, value),
            lambda error: self._settle_import(entry, ErrorHook(error), False, error),
        )

    def _settle_import(self, entry: _Import, resolution: Hook, ok: bool, value: Any) -> None:
        if entry.resolution is not None:
            return
        entry.resolution = resolution
        if self._imports.get(entry.id) is entry:
            del self._imports[entry.id]
            if entry.remote_refs > 0 and self.abort_reason is None:
                self._send_release(entry)
        self._wake_import(entry, ok, value)

    def _wake_import(self, entry: _Import, ok: bool, value: Any) -> None:
        waiters = entry.waiters
        if waiters:
            entry.waiters = None
            for waiter in waiters:
                waiter(ok, value)

    def _on_release(self, export_id: int, count: int) -> None:
        if export_id == 0:
            return  # the main object lives as long as the session
        self._release_export(export_id, count)

    def _release_export(self, export_id: int, count: int) -> None:
        export = self._exports.get(export_id)
        if export is None:
            raise ProtocolError(f"release of unknown export {export_id}")
        if count <= 0 or count > export.refcount:
            raise ProtocolError(f"release count {count} is not within 1..{export.refcount}")
        export.refcount -= count
        if export.refcount == 0:
            del self._exports[export_id]
            if export.key is not None and self._export_ids.get(id(export.key)) == export_id:
                del self._export_ids[id(export.key)]
            _dispose_export(export)
            if export.key is None:
                self._dispose_returned_targets(export.hook)

    def _dispose_returned_targets(self, hook: Hook) -> None:
        """A released call result owned the targets it returned, unless they went out by reference.

        (A target that also went out as its own export is disposed when that export goes.)
        """
        outcome = hook.try_pull()
        if outcome is None or not outcome[0]:
            return
        value = outcome[1]
        candidates = value.values() if isinstance(value, dict) else value
        if isinstance(value, RpcTarget):
            candidates = (value,)
        elif not isinstance(value, dict | list):
            return
        for item in candidates:
            if isinstance(item, RpcTarget) and id(item) not in self._export_ids:
                _call_dispose_hook(item)

    def _on_abort(self, expression: Any) -> None:
        try:
            reason = _as_error(Decoder(self).decode(expression).value)
        except ProtocolError as error:
            reason = error
        self.abort(DotDoConnectionError(f"the peer ended the session: {reason}"), notify_peer=False)


def _disposed_hook() -> Hook:
    return ErrorHook(CapabilityError("this stub was disposed and can no longer be used"))


def _as_error(value: Any) -> BaseException:
    if isinstance(value, BaseException):
        return value
    return DotDoError(f"the peer rejected with a non-error value: {value!r}"[:500])


def _dispose_export(export: _Export) -> None:
    export.hook.dispose()
    if isinstance(export.key, RpcTarget):
        _call_dispose_hook(export.key)


def _call_dispose_hook(target: RpcTarget) -> None:
    try:
        target._on_rpc_dispose()
    except Exception:
        logger.exception("RpcTarget dispose hook failed")
