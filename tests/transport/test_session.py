"""The Cap'n Web session, driven through the harness: wire traffic, tables, stubs and limits.

Every test ends with ``check_all_released()``: both sides' import and export tables must be back
to their starting size, so a test that passes also shows it leaked nothing.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from dotdo.errors import (
    CapabilityError,
    DotDoConnectionError,
    NotFoundError,
    ProtocolError,
    RpcError,
)
from dotdo.transport import Limits, RpcStub, memory_pair
from dotdo.transport.hooks import Payload

from .harness import CLIENT, SERVER, TestHarness
from .targets import Api, Doubler

pytestmark = pytest.mark.anyio

MakeHarness = Callable[..., TestHarness]


def _messages(texts: list[str]) -> list[Any]:
    return [json.loads(text) for text in texts]


# -- the message sequence -------------------------------------------------------------------


async def test_a_call_is_push_pull_resolve_release(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())

    assert await harness.stub.square(5) == 25

    assert harness.log == [
        (CLIENT, '["push",["pipeline",0,["square"],[5]]]'),
        (CLIENT, '["pull",1]'),
        (SERVER, '["resolve",1,25]'),
        (CLIENT, '["release",1,1]'),
    ]
    await harness.check_all_released()


@pytest.mark.parametrize(
    ("argument", "wire"),
    [
        ("text", '"text"'),
        (2**53 - 1, "9007199254740991"),
        (2**53, '["bigint","9007199254740992"]'),
        (1.5, "1.5"),
        (float("inf"), '["inf"]'),
        (True, "true"),
        (None, "null"),
        ([1, 2], "[[1,2]]"),
        (b"\x01", '["bytes","AQ=="]'),
    ],
)
async def test_call_arguments_are_sent_as_is_only_when_plain(
    make_harness: MakeHarness, argument: Any, wire: str
) -> None:
    harness = make_harness(Api())

    await harness.stub.echo(argument)

    assert harness.log[0] == (CLIENT, f'["push",["pipeline",0,["echo"],[{wire}]]]')
    await harness.check_all_released()


async def test_an_id_introduced_twice_is_released_with_count_two(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())

    counters = await harness.stub.shared_counter_twice()
    assert _messages(harness.sent_by(SERVER)) == [
        ["resolve", 1, [[["export", -1], ["export", -1]]]]
    ]
    del counters
    await harness.settle()

    assert _messages(harness.sent_by(CLIENT))[-1] == ["release", -1, 2]
    await harness.check_all_released()


async def test_a_target_returned_by_two_calls_is_released_once_with_count_two(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub

    first = await api.shared_counter()
    second = await api.shared_counter()
    del first, second
    await harness.settle()

    releases = [m for m in _messages(harness.sent_by(CLIENT)) if m[0] == "release" and m[1] < 0]
    assert releases == [["release", -1, 2]]
    await harness.check_all_released()


# -- pipelining and E-order -----------------------------------------------------------------


async def test_a_dependent_chain_of_ten_calls_is_sent_before_any_response(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub

    total = api.one()
    for _ in range(10):
        total = api.add(total, 1)
    assert await total == 11

    senders = [sender for sender, _ in harness.log]
    first_response = senders.index(SERVER)
    pushes = [m for m in _messages(harness.sent_by(CLIENT)) if m[0] == "push"]
    assert len(pushes) == 11
    client_messages_before_response = harness.log[:first_response]
    assert sum('["push"' in text for _, text in client_messages_before_response) == 11
    del total
    await harness.check_all_released()


async def test_a_promise_passed_as_an_argument_is_substituted_by_the_server(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub

    assert await api.square(api.add(1, 2)) == 9

    assert _messages(harness.sent_by(CLIENT))[:2] == [
        ["push", ["pipeline", 0, ["add"], [1, 2]]],
        ["push", ["pipeline", 0, ["square"], [["pipeline", 1]]]],
    ]
    await harness.check_all_released()


async def test_calls_queued_on_an_unresolved_promise_are_delivered_in_order(
    make_harness: MakeHarness,
) -> None:
    server = Api()
    harness = make_harness(server)
    counter = harness.stub.make_counter_later(0)

    results = [counter.increment(by) for by in (1, 2, 3, 4, 5)]
    await harness.settle()  # every call is now queued on the server, behind the gate
    server.gate.set()

    assert [await result for result in results] == [1, 3, 6, 10, 15]
    del counter, results
    await harness.check_all_released()


async def test_a_call_abandoned_by_a_timeout_is_released_when_it_finishes(
    make_harness: MakeHarness,
) -> None:
    server = Api()
    harness = make_harness(server)

    with anyio.move_on_after(0.05) as scope:
        await harness.stub.wait_for_gate()
    assert scope.cancelled_caught

    server.gate.set()
    await harness.check_all_released()


async def test_errors_propagate_to_calls_pipelined_on_a_failed_call(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())

    failed = harness.stub.throw_type_error("no counter")
    with pytest.raises(RpcError, match="no counter"):
        await failed.increment(1)
    del failed
    await harness.check_all_released()


# -- map ------------------------------------------------------------------------------------


async def test_map_over_an_array_calls_the_mapper_for_each_element(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub

    squares = await api.fibonacci(6).map(lambda x: api.square(x))

    assert squares == [0, 1, 1, 4, 9, 25]
    assert [m[0] for m in _messages(harness.sent_by(CLIENT))][:3] == ["push", "push", "pull"]
    assert len(harness.sent_by(SERVER)) == 1  # one round trip for the whole map
    await harness.check_all_released()


async def test_map_over_a_single_value_calls_the_mapper_once(make_harness: MakeHarness) -> None:
    server = Api()
    harness = make_harness(server)
    api = harness.stub

    assert await api.one().map(lambda x: api.add(x, 41)) == 42
    await harness.check_all_released()


async def test_map_over_null_returns_none_without_calling_the_mapper(
    make_harness: MakeHarness,
) -> None:
    server = Api()
    harness = make_harness(server)
    api = harness.stub

    assert await api.nothing().map(lambda x: api.square(x)) is None
    assert server.squared == []
    await harness.check_all_released()


async def test_map_can_build_an_object_from_each_element(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())
    api = harness.stub

    rows = await api.fibonacci(3).map(lambda x: {"n": x, "square": api.square(x)})

    assert rows == [{"n": 0, "square": 0}, {"n": 1, "square": 1}, {"n": 1, "square": 1}]
    await harness.check_all_released()


async def test_nested_map_maps_each_inner_array(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())
    api = harness.stub

    nested = await api.fibonacci(5).map(lambda n: api.fibonacci(n).map(lambda x: api.add(x, 10)))

    assert nested == [[], [10], [10], [10, 11], [10, 11, 11]]
    await harness.check_all_released()


async def test_map_with_a_captured_server_stub_calls_it_for_each_element(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub
    counter = await api.make_counter(0)

    running = await api.fibonacci(5).map(lambda x: counter.increment(x))

    assert running == [0, 1, 2, 4, 7]
    counter.dispose()
    await harness.check_all_released()


async def test_map_results_that_are_targets_arrive_as_stubs(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())
    api = harness.stub

    counters = await api.fibonacci(4).map(lambda x: api.make_counter(x))

    assert [await counter.increment(1) for counter in counters] == [1, 2, 2, 3]
    del counters
    await harness.check_all_released()


async def test_map_with_a_captured_client_capability_calls_back_for_each_element(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub
    doubler = await api.echo(Doubler())  # our own target, back as a local stub

    with anyio.fail_after(1):
        doubled = await api.fibonacci(4).map(lambda x: doubler.double(x))

    assert doubled == [0, 2, 2, 4]
    doubler.dispose()
    await harness.check_all_released()


async def test_a_settled_local_promise_can_be_passed_as_an_argument(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub
    doubler = await api.echo(Doubler())
    doubled = doubler.double(3)  # settles at once: the target is local

    with anyio.fail_after(1):
        assert await api.square(doubled) == 36
    del doubler, doubled
    await harness.check_all_released()


# -- callbacks and capabilities -------------------------------------------------------------


async def test_the_server_can_call_a_client_function(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())

    assert await harness.stub.call_function(lambda x: x * 10, 4) == 40
    await harness.check_all_released()


async def test_the_server_can_await_an_async_client_function(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())

    async def triple(x: int) -> int:
        return 3 * x

    assert await harness.stub.call_function(triple, 5) == 15
    await harness.check_all_released()


async def test_a_client_target_passed_to_the_server_is_called_back(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    doubler = Doubler()

    assert await harness.stub.use_doubler(doubler, 21) == 42
    await harness.settle()

    assert doubler.disposed  # the server released it once the call was done
    await harness.check_all_released()


async def test_the_server_can_call_the_client_main_object(make_harness: MakeHarness) -> None:
    harness = make_harness(Api(), client_main=Doubler())

    client_main = harness.server.main_stub()
    assert await client_main.double(8) == 16
    client_main.dispose()
    await harness.check_all_released()


async def test_a_returned_target_arrives_as_a_callable_stub(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())

    counter = await harness.stub.make_counter(5)

    assert isinstance(counter, RpcStub)
    assert await counter.increment(2) == 7
    assert await counter.value == 7
    counter.dispose()
    await harness.check_all_released()


async def test_a_server_stub_passed_back_reaches_the_original_object(
    make_harness: MakeHarness,
) -> None:
    server = Api()
    harness = make_harness(server)
    api = harness.stub
    counter = await api.make_counter(1)

    assert await api.increment_counter(counter, 5) == 6
    assert server.made[0].value == 6
    counter.dispose()
    await harness.check_all_released()


async def test_a_stub_from_one_session_can_be_passed_into_another(
    make_harness: MakeHarness,
) -> None:
    first = make_harness(Api())
    second = make_harness(Api())
    counter = await first.stub.make_counter(5)

    assert await second.stub.increment_counter(counter, 2) == 7

    counter.dispose()
    await first.check_all_released()
    await second.check_all_released()


async def test_a_stub_passed_into_another_session_stays_usable_after_it_is_released_there(
    make_harness: MakeHarness,
) -> None:
    first = make_harness(Api())
    second = make_harness(Api())
    counter = await first.stub.make_counter(5)
    assert await second.stub.increment_counter(counter, 2) == 7
    await second.settle()  # the second session has released its proxy of the counter

    assert await counter.increment(1) == 8

    counter.dispose()
    await first.check_all_released()
    await second.check_all_released()


# -- what an RpcTarget exposes --------------------------------------------------------------

_UNREACHABLE = [
    "_private",
    "__class__",
    "__globals__",
    "__dict__",
    "__init__",
    "__reduce__",
    "label",  # an instance attribute
    "gate",
    "constructor",
    "__proto__",
    "toJSON",
    "toString",
    "hasOwnProperty",
]


async def _failure(promise: Any) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await promise
    return caught.value


def _shape(error: RpcError, name: str) -> tuple[str, str, str]:
    return (type(error).__name__, error.remote_type, error.message.replace(repr(name), "NAME"))


@pytest.mark.parametrize("name", _UNREACHABLE)
async def test_a_forbidden_member_cannot_be_read(make_harness: MakeHarness, name: str) -> None:
    harness = make_harness(Api())
    api = harness.stub
    missing = await _failure(api["no_such_member"])

    forbidden = await _failure(api[name])

    assert _shape(forbidden, name) == _shape(missing, "no_such_member")
    await harness.check_all_released()


@pytest.mark.parametrize("name", _UNREACHABLE)
async def test_a_forbidden_member_cannot_be_called(make_harness: MakeHarness, name: str) -> None:
    harness = make_harness(Api())
    api = harness.stub
    missing = await _failure(api["no_such_member"]())

    forbidden = await _failure(api[name]())

    assert _shape(forbidden, name) == _shape(missing, "no_such_member")
    await harness.check_all_released()


@pytest.mark.parametrize("name", ["__globals__", "__self__", "__func__", "__code__"])
async def test_the_internals_of_a_method_are_unreachable(
    make_harness: MakeHarness, name: str
) -> None:
    harness = make_harness(Api())
    api = harness.stub
    missing = await _failure(api["no_such_member"])

    forbidden = await _failure(api.square[name])

    assert _shape(forbidden, name) == _shape(missing, "no_such_member")
    await harness.check_all_released()


async def test_a_missing_member_reads_as_a_type_error_naming_it(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())

    error = await _failure(harness.stub["no_such_member"])

    assert error.remote_type == "TypeError"
    assert "'no_such_member'" in error.message
    await harness.check_all_released()


async def test_public_methods_properties_and_constants_are_reachable(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub

    assert (await api.square(3), await api.version, await api.LIMIT) == (9, "1.0", 10)
    await harness.check_all_released()


async def test_an_instance_attribute_cannot_shadow_a_method(make_harness: MakeHarness) -> None:
    server = Api()
    server.square = lambda x: "shadowed"  # type: ignore[method-assign]
    harness = make_harness(server)

    assert await harness.stub.square(4) == 16
    await harness.check_all_released()


# -- disposal -------------------------------------------------------------------------------


async def test_releasing_a_returned_target_runs_its_dispose_hook(
    make_harness: MakeHarness,
) -> None:
    server = Api()
    harness = make_harness(server)
    counter = await harness.stub.make_counter(1)
    await harness.settle()
    assert not server.made[0].disposed

    counter.dispose()
    await harness.settle()

    assert server.made[0].disposed
    await harness.check_all_released()


async def test_a_target_used_only_by_pipelining_is_disposed_with_its_call_result(
    make_harness: MakeHarness,
) -> None:
    server = Api()
    harness = make_harness(server)
    counter = harness.stub.make_counter(1)
    assert await counter.increment(1) == 2

    del counter
    await harness.settle()

    assert server.made[0].disposed
    await harness.check_all_released()


async def test_async_with_disposes_the_stub_on_exit(make_harness: MakeHarness) -> None:
    server = Api()
    harness = make_harness(server)

    async with await harness.stub.make_counter(0) as counter:
        assert await counter.increment(3) == 3
    await harness.settle()

    assert server.made[0].disposed
    await harness.check_all_released()


async def test_a_target_is_disposed_only_when_every_reference_is_released(
    make_harness: MakeHarness,
) -> None:
    server = Api()
    harness = make_harness(server)
    api = harness.stub
    first = await api.shared_counter()
    second = await api.shared_counter()

    first.dispose()
    await harness.settle()
    assert not server.shared.disposed
    assert await second.increment(1) == 101

    second.dispose()
    await harness.settle()
    assert server.shared.disposed
    await harness.check_all_released()


async def test_a_disposed_stub_raises_capability_error(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())
    counter = await harness.stub.make_counter(0)

    counter.dispose()

    with pytest.raises(CapabilityError):
        counter.increment(1)
    await harness.check_all_released()


async def test_disposing_twice_releases_once(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())
    counter = await harness.stub.make_counter(0)

    counter.dispose()
    counter.dispose()
    await harness.settle()

    releases = [m for m in _messages(harness.sent_by(CLIENT)) if m[0] == "release" and m[1] < 0]
    assert releases == [["release", -1, 1]]
    assert harness.receive_errors == []
    await harness.check_all_released()


async def test_a_main_stub_reuses_its_member_stubs(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())
    api = harness.stub

    assert api.square is api.square
    assert await api.square(3) == 9
    assert await api.square(4) == 16
    await harness.check_all_released()


async def test_a_main_stub_remembers_a_bounded_number_of_members(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub

    members = [getattr(api, f"name{index}") for index in range(300)]

    assert len(vars(api)) == 256
    assert api.name0 is members[0]
    assert api.name299 is not members[299]  # past the bound: a new stub every time
    await harness.check_all_released()


async def test_a_remembered_member_of_a_disposed_main_stub_raises(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub
    square = api.square

    api.dispose()

    with pytest.raises(CapabilityError):
        square(2)
    with pytest.raises(CapabilityError):
        api.square(2)
    await harness.check_all_released()


async def test_a_stream_write_dropped_before_its_answer_sends_no_release(
    make_harness: MakeHarness,
) -> None:
    # A stream write's result is released by the peer itself once answered (as in the
    # reference), so the importer holds no reference to give back: dropping it early (a
    # cancelled writer) must not send a release, which the peer would refuse.
    harness = make_harness(Api())
    main = harness.stub

    main._live_hook().stream(("square",), Payload([3])).dispose()
    await harness.settle()

    releases = [m for m in _messages(harness.sent_by(CLIENT)) if m[0] == "release"]
    assert releases == []
    assert harness.receive_errors == []
    await harness.check_all_released()


# -- the session ending ---------------------------------------------------------------------


async def test_on_broken_fires_when_the_peer_aborts(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())
    broken: list[BaseException] = []
    harness.client.on_broken(broken.append)

    harness.server.abort(RuntimeError("shutting down"))
    await harness.settle()

    assert len(broken) == 1
    assert isinstance(broken[0], DotDoConnectionError)
    assert "shutting down" in str(broken[0])
    await harness.check_all_released()


async def test_every_pending_call_fails_with_connection_error_when_the_peer_aborts(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub
    failures: list[BaseException] = []

    async def call() -> None:
        try:
            await api.wait_for_gate()
        except DotDoConnectionError as error:
            failures.append(error)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(call)
            await harness.settle()
            harness.server.abort(RuntimeError("shutting down"))

    assert len(failures) == 3
    await harness.check_all_released()


async def test_a_call_after_the_session_ended_fails_with_connection_error(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())
    api = harness.stub
    harness.client.abort(RuntimeError("closing"))

    with pytest.raises(DotDoConnectionError):
        await api.square(2)
    await harness.check_all_released()


async def test_aborting_disposes_every_exported_target(make_harness: MakeHarness) -> None:
    server = Api()
    harness = make_harness(server)
    counter = await harness.stub.make_counter(0)

    harness.server.abort(RuntimeError("shutting down"))

    assert server.made[0].disposed
    del counter
    await harness.check_all_released()


async def test_a_protocol_violation_aborts_and_tells_the_peer(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())
    broken: list[BaseException] = []
    harness.client.on_broken(broken.append)

    with pytest.raises(ProtocolError):
        harness.server.receive('["release",7,1]')
    await harness.settle()

    assert not harness.server.is_open
    assert json.loads(harness.sent_by(SERVER)[-1])[0] == "abort"
    assert len(broken) == 1
    await harness.check_all_released()


async def test_pending_calls_fail_with_connection_error_when_a_memory_pair_closes() -> None:
    client, server = memory_pair(None, Api())
    api = client.main_stub()
    broken: list[BaseException] = []
    client.session.on_broken(broken.append)

    with anyio.fail_after(5):
        pending = api.wait_for_gate()
        await anyio.sleep(0.01)
        await server.close()
        with pytest.raises(DotDoConnectionError):
            await pending
        await client.finished.wait()

    assert len(broken) == 1
    assert isinstance(broken[0], DotDoConnectionError)
    del api, pending
    gc.collect()


# -- errors ---------------------------------------------------------------------------------


async def test_an_exception_arrives_as_rpc_error_with_its_type_name_and_message(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())

    error = await _failure(harness.stub.throw_type_error("bad argument"))

    assert (error.remote_type, error.message) == ("TypeError", "bad argument")
    await harness.check_all_released()


async def test_a_declared_error_arrives_as_its_class_with_code_and_details(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())

    with pytest.raises(NotFoundError) as caught:
        await harness.stub.throw_not_found("db-url")

    assert caught.value.code == "not_found"
    assert caught.value.details == {"name": "db-url"}
    assert caught.value.message == "no secret named 'db-url'"
    await harness.check_all_released()


async def test_a_wire_error_carries_no_stack_trace(make_harness: MakeHarness) -> None:
    harness = make_harness(Api())

    await _failure(harness.stub.throw_type_error("bad argument"))

    reject = json.loads(harness.sent_by(SERVER)[-1])
    assert reject == ["reject", 1, ["error", "TypeError", "bad argument"]]
    await harness.check_all_released()


async def test_redact_error_replaces_the_error_before_it_is_sent(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api(), redact_error=lambda error: RpcError("internal error"))

    error = await _failure(harness.stub.throw_secret())

    assert error.message == "internal error"
    assert not any("hunter2" in text for text in harness.sent_by(SERVER))
    await harness.check_all_released()


async def test_without_redaction_the_type_and_message_are_sent(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())

    error = await _failure(harness.stub.throw_secret())

    assert (error.remote_type, "hunter2" in error.message) == ("Error", True)
    await harness.check_all_released()


async def test_a_call_whose_arguments_cannot_be_sent_leaves_no_export(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api())

    with pytest.raises(TypeError, match="cannot send"):
        await harness.stub.call_function(lambda x: x, object())

    await harness.check_all_released()


async def test_a_result_that_cannot_be_sent_leaves_no_export(make_harness: MakeHarness) -> None:
    server = Api()
    harness = make_harness(server)

    await _failure(harness.stub.counter_and_junk())

    await harness.check_all_released()


# -- limits ---------------------------------------------------------------------------------


async def test_holding_more_results_than_max_exports_aborts_the_session(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api(), server_limits=Limits(max_exports=4))
    api = harness.stub

    held = [api.wait_for_gate() for _ in range(5)]
    await harness.settle()

    assert isinstance(harness.server.abort_reason, ProtocolError)
    assert "exports" in str(harness.server.abort_reason)
    del held
    await harness.check_all_released()


async def test_holding_results_within_max_exports_keeps_the_session_open(
    make_harness: MakeHarness,
) -> None:
    server = Api()
    harness = make_harness(server, server_limits=Limits(max_exports=4))
    api = harness.stub

    held = [api.wait_for_gate() for _ in range(3)]
    await harness.settle()
    server.gate.set()

    assert [await result for result in held] == ["opened"] * 3
    assert harness.server.is_open
    del held
    await harness.check_all_released()


async def test_more_pending_pulls_than_the_limit_abort_the_session(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api(), server_limits=Limits(max_pending_pulls=3))
    api = harness.stub
    failures: list[BaseException] = []

    async def call() -> None:
        try:
            await api.wait_for_gate()
        except DotDoConnectionError as error:
            failures.append(error)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(call)

    assert isinstance(harness.server.abort_reason, ProtocolError)
    assert "pending pulls" in str(harness.server.abort_reason)
    assert len(failures) == 4
    await harness.check_all_released()


async def test_pending_pulls_up_to_the_limit_are_served(make_harness: MakeHarness) -> None:
    server = Api()
    harness = make_harness(server, server_limits=Limits(max_pending_pulls=3))
    api = harness.stub
    results: list[str] = []

    async def call() -> None:
        results.append(await api.wait_for_gate())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(call)
            await harness.settle()
            server.gate.set()

    assert results == ["opened"] * 3
    assert harness.server.is_open
    await harness.check_all_released()


async def test_a_peer_introducing_more_than_max_imports_aborts_the_session(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api(), client_limits=Limits(max_imports=3))

    with pytest.raises(ProtocolError, match="imports"):
        await harness.stub.counters(5)

    assert isinstance(harness.client.abort_reason, ProtocolError)
    await harness.check_all_released()


async def test_a_peer_introducing_imports_within_max_imports_is_served(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(Api(), client_limits=Limits(max_imports=3))

    counters = await harness.stub.counters(1)  # our import table: main, the call, the counter

    assert len(counters) == 1
    assert harness.client.is_open
    del counters
    await harness.check_all_released()
