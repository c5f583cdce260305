"""Secrets and tokens never appear in logs, reprs, error messages or ``debug=True`` output."""

from __future__ import annotations

import logging
import traceback
import uuid

import pytest

from dotdo import DotDo, DotDoError

from .conftest import SocketPlatform, Target
from .helpers import Wiretap, clean_environ, run_python, transport_session

pytestmark = pytest.mark.anyio


class Evidence:
    """Everything a person could see: texts, reprs, errors. Scanned for secret values at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def show(self, *objects: object) -> None:
        for item in objects:
            self.texts += [repr(item), str(item)]

    def error(self, error: BaseException) -> None:
        self.show(error, error.args)
        if isinstance(error, DotDoError):
            self.show(error.message, error.details, error.code)
        self.texts.append("".join(traceback.format_exception(error)))

    def leaks(self, secrets: dict[str, str]) -> list[str]:
        everything = "\n".join(self.texts)
        return [name for name, value in secrets.items() if value and value in everything]


async def capture_error(evidence: Evidence, awaitable: object) -> None:
    try:
        await awaitable  # type: ignore[misc]
    except DotDoError as error:
        evidence.error(error)
    else:
        raise AssertionError("the call was expected to fail")


async def test_nothing_secret_reaches_logs_reprs_errors_or_debug_output(
    target: Target,
    secret_name: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="dotdo")
    secret_value = f"s3cr3t-{uuid.uuid4().hex}"
    wrong_key = f"dotdo_sk_{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}"
    wrong_token = f"eyJhbGciOiJIUzI1NiJ9.{uuid.uuid4().hex}.{uuid.uuid4().hex}"
    evidence = Evidence()

    client = target.client(debug=True)
    wiretap = Wiretap(transport_session(await client._session()))
    info = await client.secrets.set(secret_name, secret_value, comment="for the scan")
    assert await client.secrets.get(secret_name, cache_ttl=60) == secret_value
    assert await client.secrets.get(secret_name, cache_ttl=60) == secret_value
    [token] = wiretap.tokens()  # the JWT the exchange returned, which the session runs on
    created = await client.auth.api_keys.create(f"scan-{secret_name.lower()}")
    minted = await client.auth.mint_jwt(ttl_seconds=60)
    client.logs.warn("rotating", {"api_key": created.key, "password": secret_value})
    await client.logs.flush()
    stored_logs = await client.logs.query(level="warning", limit=5)
    evidence.show(
        client,
        client.settings,
        client.settings.masked(),
        client.secrets,
        client.auth,
        info,
        await client.secrets.list(secret_name),
        created,
        minted,
        stored_logs,
    )
    print(client, client.settings, info, created, minted)

    await capture_error(evidence, client.secrets.get(secret_name + "_MISSING"))
    await capture_error(evidence, client.auth.validate_jwt(wrong_token))
    await capture_error(evidence, client.auth.login("admin", secret_value))
    with_wrong_key = target.client(api_key=wrong_key, max_retries=0, debug=True)
    await capture_error(evidence, with_wrong_key.secrets.get(secret_name))
    with_wrong_token = DotDo(endpoint=target.endpoint, access_token=wrong_token, max_retries=0)
    await capture_error(evidence, with_wrong_token.secrets.get(secret_name))
    evidence.show(with_wrong_key, with_wrong_key.settings, with_wrong_token.settings)
    for other in (with_wrong_key, with_wrong_token):
        await other.close()
    await client.close()

    captured = capsys.readouterr()
    evidence.texts += [caplog.text, captured.out, captured.err]
    evidence.texts += [record.getMessage() for record in caplog.records]
    assert any("settings resolved" in record.getMessage() for record in caplog.records)
    api_key = client.settings.api_key
    assert api_key is not None
    assert (
        evidence.leaks(
            {
                "the API key": api_key,
                "the session's JWT": token,
                "the secret value": secret_value,
                "a created API key": created.key,
                "a minted JWT": minted.token,
                "a wrong API key": wrong_key,
                "a wrong JWT": wrong_token,
            }
        )
        == []
    )


def test_the_sdk_installs_no_log_handler() -> None:
    client = DotDo(endpoint="memory://", debug=True)
    client.settings  # noqa: B018 - debug=True takes effect here
    try:
        assert logging.getLogger("dotdo").handlers == []
        assert logging.getLogger("dotdo").propagate is True
        assert logging.getLogger("dotdo").level == logging.DEBUG
    finally:
        logging.getLogger("dotdo").setLevel(logging.NOTSET)


LEAK_SCRIPT = """
import logging, os
logging.basicConfig(level=logging.DEBUG)  # an application debugging everything
from dotdo import dotdo
dotdo.sync.secrets.set(os.environ["SCAN_NAME"], os.environ["SCAN_VALUE"])
dotdo.sync.secrets.get(os.environ["SCAN_NAME"])
"""


def test_debug_logging_of_every_library_shows_no_secret(
    socket_platform: SocketPlatform, secret_name: str
) -> None:
    secret_value = f"s3cr3t-{uuid.uuid4().hex}"
    environment = clean_environ(
        DOTDO_ENDPOINT=socket_platform.endpoint,
        DOTDO_API_KEY=socket_platform.api_key,
        DOTDO_DEBUG="1",
        DOTDO_NO_KEYCHAIN="1",
        SCAN_NAME=secret_name,
        SCAN_VALUE=secret_value,
    )
    result = run_python(LEAK_SCRIPT, environment)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "DEBUG:dotdo:" in output
    assert secret_value not in output
    assert socket_platform.api_key not in output
