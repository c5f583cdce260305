"""``.map()``: record a Python callable as instructions, and replay them on the other side.

Recording runs the mapper once with a placeholder. Calls made while it runs — on the placeholder,
on values read from it, and on any captured stub — are not sent; they become instructions in the
form of the spec's ``remap`` expression (negative ids name captures, 0 the input, positive ids
earlier instructions). The whole map then costs one message and one round trip.

Replay evaluates those instructions against each element of an array (or the single value, or
passes ``None`` straight through) and settles with the list of results.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import orjson

from dotdo.errors import ProtocolError
from dotdo.transport.codec import Decoder, Encoder, Exporter, Importer
from dotdo.transport.hooks import ErrorHook, Hook, Node, Path, Payload, PullCallback
from dotdo.transport.limits import DEFAULT_LIMITS, Limits
from dotdo.transport.stub import MAP_RECORDER, RpcPromise, RpcStub
from dotdo.transport.wire import UNDEFINED

__all__ = ["MapRecipe", "apply_map", "current_recorder", "record_map"]


def current_recorder() -> Any:
    """The recorder of the mapper now running, if any (calls are then recorded, not sent)."""
    return MAP_RECORDER.get()


class MapRecipe:
    """A recorded mapper: the hooks it captured and its instructions (wire expressions)."""

    __slots__ = ("captures", "instructions", "limits")

    def __init__(self, captures: list[Hook], instructions: list[Any], limits: Limits) -> None:
        self.captures = captures
        self.instructions = instructions
        self.limits = limits


# -- recording ----------------------------------------------------------------------------


class _VariableHook(Hook):
    """A placeholder for the input or an instruction's result while a mapper is recorded."""

    __slots__ = ("index", "recorder")

    def __init__(self, recorder: _MapRecorder, index: int) -> None:
        self.recorder = recorder
        self.index = index

    def get(self, path: Path) -> Hook:
        return self.recorder.record(self, path, None) if path else self

    def call(self, path: Path, args: Payload) -> Hook:
        return self.recorder.record(self, path, args.value)

    def pull(self, done: PullCallback) -> None:
        done(False, _misuse())

    def try_pull(self) -> tuple[bool, Any] | None:
        return (False, _misuse())


def _misuse() -> TypeError:
    return TypeError(
        "a .map() callback cannot await or inspect its argument: it is recorded once and "
        "replayed remotely, so it may only call methods and read properties"
    )


class _MapRecorder(Exporter):
    """Collects the instructions of one mapper (nested maps get their own recorder)."""

    def __init__(self, subject: Hook, path: Path) -> None:
        self.parent = MAP_RECORDER.get()
        self.subject = subject
        self.path = path
        self.instructions: list[Any] = []
        self.captured: list[Any] = []  # hooks at the top level, parent indices when nested
        self._capture_index: dict[int, int] = {}
        self._keep: list[Hook] = []

    def capture(self, hook: Hook) -> int:
        """The index instructions use for ``hook``: its own for placeholders, else a capture."""
        hook = hook.canonical()
        if isinstance(hook, _VariableHook) and hook.recorder is self:
            return hook.index
        known = self._capture_index.get(id(hook))
        if known is not None:
            return known
        if self.parent is not None:
            self.captured.append(self.parent.capture(hook))
        else:
            self.captured.append(hook.dup())
        self._keep.append(hook)  # keeps id(hook) stable while recording
        index = -len(self.captured)
        self._capture_index[id(hook)] = index
        return index

    def record(self, hook: Hook, path: Path, args: list[Any] | None) -> _VariableHook:
        subject = self.capture(hook)
        instruction: list[Any] = ["pipeline", subject, list(path)]
        if args is not None:
            instruction.append([Encoder(self).encode(arg) for arg in args])
        self.instructions.append(instruction)
        return _VariableHook(self, len(self.instructions))

    def finish(self, result: Any) -> Hook:
        self.instructions.append(Encoder(self).encode(result))
        if self.parent is not None:
            parent = self.parent
            subject = parent.capture(self.subject)
            parent.instructions.append(
                [
                    "remap",
                    subject,
                    list(self.path),
                    [["import", index] for index in self.captured],
                    self.instructions,
                ]
            )
            return _VariableHook(parent, len(parent.instructions))
        recipe = MapRecipe(self.captured, self.instructions, DEFAULT_LIMITS)
        return self.subject.map(self.path, recipe)

    # Exporter: what the encoder does with stubs met in arguments and results.

    def encode_stub(self, stub: RpcStub) -> Any:
        index = self.capture(stub._live_hook())
        if isinstance(stub, RpcPromise):
            return ["pipeline", index, list(stub._path)] if stub._path else ["pipeline", index]
        return ["import", index]

    def export_value(self, value: Any) -> int:
        raise TypeError(
            "a .map() callback cannot create an RpcTarget or pass a function; "
            "make the stub outside the callback and use it inside"
        )


def record_map(hook: Hook, path: Path, mapper: Callable[[Any], Any]) -> RpcPromise:
    """Record ``mapper`` and send (or nest) the map of the value at ``hook``/``path``."""
    recorder = _MapRecorder(hook, path)
    token = MAP_RECORDER.set(recorder)
    try:
        result = mapper(RpcPromise(_VariableHook(recorder, 0)))
    finally:
        MAP_RECORDER.reset(token)
    if inspect.isawaitable(result) and not isinstance(result, RpcStub):
        if inspect.iscoroutine(result):
            result.close()
        raise TypeError("a .map() callback cannot be async")
    return RpcPromise(recorder.finish(result))


# -- replay -------------------------------------------------------------------------------


class _Replay(Importer):
    """Evaluates one mapper's instructions for one input value."""

    def __init__(self, recipe: MapRecipe, input_value: Any, scheduler: Any) -> None:
        self.limits = recipe.limits
        self._captures = recipe.captures
        self._scheduler = scheduler
        self.variables: list[Hook] = [Node.of(scheduler, input_value)]

    def run(self, instructions: list[Any]) -> Hook:
        if not instructions:
            return ErrorHook(ProtocolError("a remap needs at least one instruction"))
        # The decoder rewrites what it decodes in place, and each element needs a fresh copy.
        fresh = orjson.loads(orjson.dumps(instructions))
        try:
            for instruction in fresh[:-1]:
                self.variables.append(self._evaluate(instruction))
            return self._evaluate(fresh[-1])
        except ProtocolError as error:
            return ErrorHook(error)

    def _evaluate(self, instruction: Any) -> Hook:
        payload = Decoder(self).decode(instruction)
        value = payload.value
        sole = payload.root_promise()
        if sole is not None:
            return sole  # the instruction is itself one promise: pipeline through it
        if isinstance(value, RpcStub) and not value._path and not payload.pending:
            return value._live_hook()
        node = Node(self._scheduler)
        payload.deliver(node.resolve, node.reject)
        return node

    def export_hook(self, export_id: int) -> Hook:
        if export_id < 0 and -export_id <= len(self._captures):
            return self._captures[-export_id - 1]
        if 0 <= export_id < len(self.variables):
            return self.variables[export_id]
        raise ProtocolError(f"remap instruction refers to unknown index {export_id}")

    def import_stub(self, import_id: int) -> Hook:
        raise ProtocolError("a remap instruction cannot introduce new exports")

    def import_promise(self, import_id: int) -> Hook:
        raise ProtocolError("a remap instruction cannot introduce new exports")

    def remap_hook(self, export_id: int, path: Path, recipe: MapRecipe) -> Hook:
        return self.export_hook(export_id).map(path, recipe)

    def map_captures(self, captures: list[Any]) -> list[Hook]:
        hooks = []
        for capture in captures:
            if type(capture) is not list or len(capture) != 2 or capture[0] != "import":
                raise ProtocolError("a nested remap may only capture by import")
            if type(capture[1]) is not int:
                raise ProtocolError("a remap capture needs an integer id")
            hooks.append(self.export_hook(capture[1]))
        return hooks


def apply_map(result: Node, ok: bool, value: Any, recipe: MapRecipe) -> None:
    """Settle ``result`` with ``recipe`` applied to ``value`` (element-wise for a list)."""
    if not ok:
        result.reject(value)
        return
    scheduler = result.scheduler
    if value is None or value is UNDEFINED:
        result.resolve(value)
        return
    if not isinstance(value, list):
        result.become(_Replay(recipe, value, scheduler).run(recipe.instructions))
        return
    hooks = [_Replay(recipe, item, scheduler).run(recipe.instructions) for item in value]
    outputs: list[Any] = [None] * len(hooks)
    Payload(outputs, [(outputs, index, hook) for index, hook in enumerate(hooks)] or None).deliver(
        result.resolve, result.reject
    )
