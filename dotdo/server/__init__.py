"""The local reference platform: every dotdo namespace on SQLite, served over Cap'n Web.

    from dotdo.server import Platform

    with Platform(data_dir) as platform:
        root = platform.main()          # one per session; the transport exposes it
        api = await root.authenticate(api_key)
        await api.secrets.set("DATABASE_URL", "postgres://...")

The contract every method follows is docs/platform.md.
"""

from dotdo.server.context import Settings
from dotdo.server.errors import redact_error
from dotdo.server.platform import DevTenant, Platform, ensure_dev_tenant
from dotdo.server.root import Api, Root

__all__ = ["Api", "DevTenant", "Platform", "Root", "Settings", "ensure_dev_tenant", "redact_error"]
