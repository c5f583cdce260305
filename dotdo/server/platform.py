"""``Platform``: the local reference platform, owning its data directory, keys and store.

A transport serves a platform by calling :meth:`Platform.main` once per session and exposing the
returned :class:`~dotdo.server.root.Root` as that session's main object. The admin methods
(``create_tenant``, ``create_user``, ``create_api_key``, ``ensure_dev_tenant``) are plain blocking
calls for the CLI and for tests; call them before serving, or from a worker thread.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pydantic
from pydantic import TypeAdapter

from dotdo.errors import ConflictError, NotFoundError, ServiceError, ValidationError
from dotdo.server.context import Runtime, Settings
from dotdo.server.crypto import (
    MASTER_KEY_BYTES,
    SecretBox,
    load_or_create_key,
    master_key_from_env,
    read_private_file,
    write_private_file,
)
from dotdo.server.permissions import SCOPES, Role, Scope
from dotdo.server.root import Root, ServiceRegistry, TenantName
from dotdo.server.services.auth import (
    Password,
    Username,
    hash_password,
    insert_api_key,
    insert_user,
)
from dotdo.server.store import Store, transact
from dotdo.server.tokens import SIGNING_KEY_BYTES, TokenSigner
from dotdo.transport.target import RpcTarget

__all__ = ["DEV_CREDENTIALS_FILE", "DevTenant", "Platform", "ensure_dev_tenant"]

DEV_CREDENTIALS_FILE = "dev-credentials.json"
_KEY_CHECK_AAD = b"dotdo-key-check/v1"


@dataclass(frozen=True)
class DevTenant:
    """The local development tenant and its credentials.

    Attributes:
        api_key: the admin API key: on the first run, and on later runs while
            ``dev-credentials.json`` still holds it (and it is not revoked); otherwise None.
        password: the ``admin`` user's generated password, under the same conditions.
        created: True on the run that created the tenant.
    """

    tenant_id: str
    tenant: str
    api_key_id: str
    api_key: str | None
    username: str
    password: str | None
    created: bool

    def __repr__(self) -> str:
        return (
            f"DevTenant(tenant={self.tenant!r}, api_key_id={self.api_key_id!r},"
            f" created={self.created}, api_key=<redacted>, password=<redacted>)"
        )


def _checked(annotation: Any, value: Any, what: str) -> Any:
    try:
        return TypeAdapter(annotation).validate_python(value, strict=True)
    except pydantic.ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise ValidationError(f"invalid {what}: {problem}") from None


class Platform:
    """The local platform: every namespace on SQLite under one data directory.

    Args:
        data_dir: where the data lives (created mode 0700). None: a temporary directory removed
            by :meth:`close`.
        services: extra user services, reachable as ``api.rpc.<name>`` and
            ``api.service(name)``.
        master_key: the 32-byte key secrets are encrypted under. Default: ``DOTDO_MASTER_KEY``,
            else ``master.key`` in ``data_dir`` (created 0600 on first use).
        settings: limits and lifetimes; see :class:`Settings`.
        clock: wall-clock seconds since the epoch (tests pass a fake).

    Raises:
        ValidationError: a bad service name or master key.
        ServiceError: the data was encrypted under a different master key, or was written by a
            newer dotdo.
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        services: Mapping[str, RpcTarget] | None = None,
        master_key: bytes | None = None,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = ServiceRegistry(services or {})
        settings = settings or Settings()
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="dotdo-platform-")
            data_dir = self._temporary.name
        path = Path(data_dir)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            key = master_key or master_key_from_env()
            if key is None:
                key = load_or_create_key(path / "master.key", MASTER_KEY_BYTES)
            box = SecretBox(key)
            signing_key = load_or_create_key(path / "jwt-signing.key", SIGNING_KEY_BYTES)
            store = Store(
                path, query_timeout=settings.query_timeout, busy_timeout=settings.busy_timeout
            )
        except BaseException:
            self._cleanup_temporary()
            raise
        try:
            store.platform.call(lambda c: transact(c, lambda c: _check_master_key(c, box)))
        except BaseException:
            store.close()
            self._cleanup_temporary()
            raise
        signer = TokenSigner(signing_key, clock=clock, leeway=settings.token_leeway)
        self._runtime = Runtime(store=store, box=box, signer=signer, settings=settings, clock=clock)
        self._closed = False

    @property
    def data_dir(self) -> Path:
        """The directory holding this platform's files."""
        return self._runtime.store.data_dir

    @property
    def settings(self) -> Settings:
        """The limits and lifetimes in force."""
        return self._runtime.settings

    def main(self) -> Root:
        """A new ``Root`` for one session (the object the transport exposes as its main stub)."""
        if self._closed:
            raise ServiceError("the platform is shut down", code="unavailable")
        return Root(self._runtime, self._registry)

    def close(self) -> None:
        """Roll back open transactions, close every database, remove a temporary data dir."""
        if self._closed:
            return
        self._closed = True
        for transaction in list(self._runtime.open_transactions):
            transaction._abandon()
        self._runtime.store.close()
        self._cleanup_temporary()

    def __enter__(self) -> Platform:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _cleanup_temporary(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    # -- admin (blocking) -----------------------------------------------------------------

    def create_tenant(self, name: str) -> str:
        """Create a tenant; returns its id.

        Raises:
            ConflictError: a tenant with that name exists.
        """
        _checked(TenantName, name, "tenant name")
        tenant_id = "t_" + secrets.token_hex(12)
        now = self._runtime.clock()

        def insert(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                    (tenant_id, name, now),
                )
            except sqlite3.IntegrityError:
                raise ConflictError(f"a tenant named {name!r} already exists") from None

        self._runtime.store.platform.call(lambda c: transact(c, insert))
        return tenant_id

    def tenant_id(self, name: str) -> str:
        """The id of the tenant called ``name``.

        Raises:
            NotFoundError: no such tenant.
        """
        row = self._runtime.store.platform.call(
            lambda c: c.execute("SELECT id FROM tenants WHERE name = ?", (name,)).fetchone()
        )
        if row is None:
            raise NotFoundError(f"no tenant named {name!r}")
        tenant_id: str = row[0]
        return tenant_id

    def _require_tenant(self, tenant_id: str) -> None:
        row = self._runtime.store.platform.call(
            lambda c: c.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
        )
        if row is None:
            raise NotFoundError(f"no tenant with id {tenant_id!r}")

    def create_user(
        self,
        tenant_id: str,
        username: str,
        password: str,
        *,
        roles: tuple[Role, ...] = ("developer",),
        scopes: tuple[Scope, ...] = (),
    ) -> dict[str, Any]:
        """Add a user to a tenant; returns the user (as ``auth.users.get`` shows it)."""
        _checked(Username, username, "username")
        _checked(Password, password, "password")
        _checked(list[Role], list(roles), "roles")
        _checked(list[Scope], list(scopes), "scopes")
        self._require_tenant(tenant_id)
        password_hash = hash_password(password, self._runtime.settings.bcrypt_rounds)
        now = self._runtime.clock()
        return self._runtime.store.platform.call(
            lambda c: transact(
                c,
                lambda c: insert_user(
                    c,
                    tenant_id=tenant_id,
                    username=username,
                    password_hash=password_hash,
                    roles=list(roles),
                    scopes=list(scopes),
                    now=now,
                ),
            )
        )

    def create_api_key(
        self, tenant_id: str, name: str, *, scopes: tuple[Scope, ...] = SCOPES
    ) -> dict[str, Any]:
        """Create an API key (default: every scope); the answer is the only copy of ``key``."""
        _checked(list[Scope], list(scopes), "scopes")
        self._require_tenant(tenant_id)
        now = self._runtime.clock()
        return self._runtime.store.platform.call(
            lambda c: transact(
                c,
                lambda c: insert_api_key(
                    c,
                    tenant_id=tenant_id,
                    name=name,
                    scopes=list(scopes),
                    created_by=None,
                    now=now,
                ),
            )
        )

    def ensure_dev_tenant(self) -> DevTenant:
        """Create the development tenant, an ``admin`` user and an admin API key, once.

        On the first run the key and the generated password are returned and saved, mode 0600,
        in ``dev-credentials.json`` in the data directory, so later runs of ``dotdo dev`` can
        print them again. Later runs return them from that file while it exists.
        """
        name = self._runtime.settings.default_tenant
        saved = self._read_dev_credentials()
        existing = self._runtime.store.platform.call(
            lambda c: c.execute(
                "SELECT t.id, m.value FROM tenants t LEFT JOIN meta m ON m.key = 'dev_api_key_id'"
                " WHERE t.name = ?",
                (name,),
            ).fetchone()
        )
        if existing is not None:
            return self._existing_dev_tenant(name, existing[0], _text(existing[1]), saved)
        return self._create_dev_tenant(name)

    def _create_dev_tenant(self, name: str) -> DevTenant:
        password = secrets.token_urlsafe(18)
        password_hash = hash_password(password, self._runtime.settings.bcrypt_rounds)
        tenant_id, now = "t_" + secrets.token_hex(12), self._runtime.clock()

        def bootstrap(c: sqlite3.Connection) -> dict[str, Any]:
            c.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                (tenant_id, name, now),
            )
            user = insert_user(
                c,
                tenant_id=tenant_id,
                username="admin",
                password_hash=password_hash,
                roles=["admin"],
                scopes=[],
                now=now,
            )
            key = insert_api_key(
                c,
                tenant_id=tenant_id,
                name="dotdo dev",
                scopes=list(SCOPES),
                created_by=user["id"],
                now=now,
            )
            c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('dev_api_key_id', ?)",
                (key["id"],),
            )
            return key

        key = self._runtime.store.platform.call(lambda c: transact(c, bootstrap))
        tenant = DevTenant(
            tenant_id=tenant_id,
            tenant=name,
            api_key_id=key["id"],
            api_key=key["key"],
            username="admin",
            password=password,
            created=True,
        )
        record = {
            "tenant": name,
            "tenant_id": tenant_id,
            "api_key_id": key["id"],
            "api_key": key["key"],
            "username": "admin",
            "password": password,
        }
        write_private_file(self.data_dir / DEV_CREDENTIALS_FILE, json.dumps(record).encode())
        return tenant

    def _existing_dev_tenant(
        self, name: str, tenant_id: str, key_id: str | None, saved: dict[str, Any] | None
    ) -> DevTenant:
        live = key_id is not None and self._runtime.store.platform.call(
            lambda c: (
                c.execute(
                    "SELECT 1 FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)
                ).fetchone()
                is not None
            )
        )
        if not live or saved is None or saved.get("api_key_id") != key_id:
            saved = {}
        return DevTenant(
            tenant_id=tenant_id,
            tenant=name,
            api_key_id=key_id or "",
            api_key=_text(saved.get("api_key")),
            username="admin",
            password=_text(saved.get("password")),
            created=False,
        )

    def _read_dev_credentials(self) -> dict[str, Any] | None:
        path = self.data_dir / DEV_CREDENTIALS_FILE
        try:
            record = json.loads(read_private_file(path))
        except FileNotFoundError:
            return None
        except ValueError:
            return None
        return record if isinstance(record, dict) else None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None


def _check_master_key(connection: sqlite3.Connection, box: SecretBox) -> None:
    row = connection.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
    if row is None:
        connection.execute(
            "INSERT INTO meta (key, value) VALUES ('key_check', ?)",
            (box.seal(b"dotdo", _KEY_CHECK_AAD),),
        )
        return
    try:
        box.open(row[0], _KEY_CHECK_AAD)
    except ServiceError:
        raise ServiceError(
            "the master key does not match the one this data directory was encrypted with;"
            " set DOTDO_MASTER_KEY (or master.key) back to the original",
            code="wrong_master_key",
        ) from None


def ensure_dev_tenant(data_dir: Path | str, *, master_key: bytes | None = None) -> DevTenant:
    """Open the platform at ``data_dir`` just to run :meth:`Platform.ensure_dev_tenant`."""
    with Platform(data_dir, master_key=master_key) as platform:
        return platform.ensure_dev_tenant()
