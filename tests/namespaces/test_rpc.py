"""dotdo.rpc against the in-process platform's user service ``ai`` (see conftest)."""

from __future__ import annotations

from typing import Any

import pytest

from dotdo._client import DotDo
from dotdo.errors import ServiceError, ValidationError
from dotdo.namespaces.rpc import Rpc
from tests.namespaces.conftest import Ai

pytestmark = pytest.mark.anyio


class Offline:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the call touched the client ({name})")


async def test_an_attribute_path_calls_the_service(client: DotDo) -> None:
    assert await client.rpc.ai.generate({"prompt": "hi"}) == "generated: hi"


async def test_a_path_is_lazy_until_awaited(client: DotDo, ai: Ai) -> None:
    before = ai.calls
    call = client.rpc.ai.generate({"prompt": "hi"})
    assert ai.calls == before
    await call
    assert ai.calls == before + 1


async def test_call_takes_a_dotted_method_name(client: DotDo) -> None:
    assert await client.rpc.call("ai.generate", {"prompt": "yo"}) == "generated: yo"


async def test_dotdo_call_delegates_to_rpc_call(client: DotDo) -> None:
    assert await client.call("ai.tokens", "a b") == ["a", "b"]


async def test_item_access_reaches_names_that_clash_with_methods(client: DotDo) -> None:
    assert await client.rpc["ai"]["tokens"]("x y") == ["x", "y"]


@pytest.mark.parametrize("method", ["", "ai.", "ai._private", "ai.gen-erate", ".ai"])
async def test_call_refuses_a_malformed_method_before_any_io(method: str) -> None:
    rpc = Rpc(Offline())  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await rpc.call(method)


async def test_private_names_are_not_paths(client: DotDo) -> None:
    with pytest.raises(AttributeError):
        client.rpc.ai._secret  # noqa: B018


async def test_an_error_in_the_service_arrives_as_a_service_error(client: DotDo) -> None:
    with pytest.raises(ServiceError):
        await client.rpc.ai.fail()


async def test_map_applies_a_function_remotely_to_each_element(client: DotDo) -> None:
    described = await client.rpc.ai.items(2).map(lambda item: item.describe())
    assert described == ["item 0", "item 1"]


async def test_stream_iterates_a_returned_list(client: DotDo) -> None:
    assert [token async for token in client.rpc.stream("ai.tokens", "a b c")] == ["a", "b", "c"]


async def test_dotdo_stream_is_rpc_stream(client: DotDo) -> None:
    assert [chunk async for chunk in client.stream("ai.token_stream", "a b")] == ["a", "b"]


async def test_stream_yields_the_chunks_a_service_streams(client: DotDo) -> None:
    chunks = [chunk async for chunk in client.rpc.stream("ai.token_stream", "one two three")]
    assert chunks == ["one", "two", "three"]


async def test_stream_refuses_a_method_that_returns_neither_stream_nor_list(
    client: DotDo,
) -> None:
    with pytest.raises(ValidationError, match="returns a stream or a list"):
        async for _ in client.rpc.stream("ai.generate", {"prompt": "hi"}):
            pass


async def test_a_path_repr_shows_the_path(client: DotDo) -> None:
    assert repr(client.rpc.ai.generate) == "<dotdo.rpc.ai.generate>"


class Recorder:
    """Stands in for the client and records how each call would be made."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def _call(self, path: Any, args: Any, *, idempotent: bool, timeout: Any = None) -> Any:
        self.calls.append((tuple(path), tuple(args), idempotent, timeout))
        return "ok"


async def test_calls_are_not_marked_idempotent_so_a_sent_request_is_not_retried() -> None:
    recorder = Recorder()
    rpc = Rpc(recorder)  # type: ignore[arg-type]

    await rpc.call("ai.generate", 1, timeout=5)
    await rpc.ai.generate(2)

    assert recorder.calls == [
        (("rpc", "ai", "generate"), (1,), False, 5),
        (("rpc", "ai", "generate"), (2,), False, None),
    ]


async def test_stream_refuses_a_malformed_method_before_any_io() -> None:
    rpc = Rpc(Offline())  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        rpc.stream("not a method")


async def test_stream_works_through_dotdo_sync(client: DotDo) -> None:
    sync = client.sync
    try:
        items = list(sync.rpc.stream("ai.tokens", "a b"))
    finally:
        sync.close()  # closing the twin leaves the shared platform open
    assert items == ["a", "b"]
