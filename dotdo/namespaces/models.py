"""Result models returned by the namespaces (pydantic, so IDEs complete their fields)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["SecretInfo"]


class SecretInfo(BaseModel):
    """A secret's metadata: everything but its value."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    comment: str | None = None
    version: int
    created_at: float
    updated_at: float
