"""Arguments are validated at the boundary and refused, closed, with the argument named."""

from __future__ import annotations

import pytest

from dotdo.errors import ValidationError
from dotdo.server import Api, Platform
from tests.server.conftest import Tenant

pytestmark = pytest.mark.anyio


class StubLike:
    """Stands in for a Cap'n Web stub a peer sent where a value was declared."""

    def __str__(self) -> str:
        return "stub"


async def test_a_stub_where_a_string_is_declared_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="name: Input should be a valid string"):
        await api.secrets.get(StubLike())


async def test_a_stub_inside_a_document_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="data"):
        await api.collections.set("c", "d", {"nested": [StubLike()]})


async def test_a_float_where_a_string_is_declared_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="value"):
        await api.secrets.set("K", 1.5)


async def test_a_bool_where_an_int_is_declared_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="limit"):
        await api.collections.query("c", None, None, None, True)


async def test_a_stub_as_a_sql_parameter_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match=r"params\[0\]"):
        await api.db.query("SELECT ?", [StubLike()])


async def test_an_integer_sql_cannot_store_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match=r"params\[0\]"):
        await api.db.query("SELECT ?", [2**63])


async def test_an_unknown_filter_operator_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match=r"where\[0\]\[1\]"):
        await api.collections.count("c", [["a", "LIKE", "x"]])


async def test_an_oversize_string_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="comment"):
        await api.secrets.set("K", "v", "c" * 5000)


async def test_a_missing_argument_is_refused_by_name(api: Api) -> None:
    with pytest.raises(ValidationError, match="'value'"):
        await api.secrets.set("K")


async def test_an_extra_argument_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="too many"):
        await api.secrets.get("K", "extra")


async def test_an_unknown_keyword_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="unexpected"):
        await api.secrets.get("K", shadow=True)


async def test_a_password_of_73_bytes_is_refused_not_truncated(api: Api) -> None:
    with pytest.raises(ValidationError, match="72 bytes"):
        await api.auth.users.add("bob", "a" * 73)


async def test_a_password_of_73_bytes_in_multibyte_characters_is_refused(api: Api) -> None:
    password = "é" * 36 + "a"  # 37 characters, 73 bytes of UTF-8
    with pytest.raises(ValidationError, match="72 bytes"):
        await api.auth.users.add("bob", password)


async def test_a_password_of_exactly_72_bytes_is_accepted(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "a" * 72)
    assert (await platform.main().login("bob", "a" * 72, "acme"))["user"]["username"] == "bob"


async def test_a_password_with_a_nul_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        await api.auth.users.add("bob", "correct\x00horse")


async def test_a_lone_surrogate_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="Unicode"):
        await api.collections.set("c", "d", {"text": "\ud800"})


async def test_a_non_finite_number_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="finite"):
        await api.collections.set("c", "d", {"x": float("nan")})


async def test_an_over_long_idempotency_key_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="idempotency_key"):
        await api.secrets.set("K", "v", None, "k" * 256)


async def test_the_refusal_never_echoes_the_value(api: Api) -> None:
    secret_value = "hunter2-" + "x" * 70
    with pytest.raises(ValidationError) as caught:
        await api.auth.users.add("bob", secret_value)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value.details)


async def test_validation_runs_after_the_credential_check(
    platform: Platform, tenant_a: Tenant
) -> None:
    reader = await platform.main().authenticate(
        (await tenant_a.api.auth.api_keys.create("r", ["db:read"]))["key"]
    )
    from dotdo.errors import AuthorizationError

    with pytest.raises(AuthorizationError):
        await reader.secrets.set(StubLike(), StubLike())
