"""A FastAPI app that uses the ``dotdo`` singleton straight from its handlers.

Nothing is configured in code: the endpoint and the key come from ``DOTDO_*`` variables or a
``dotdo login``, and the first request opens the one session every handler then shares.

    dotdo dev                                # in another terminal: the local platform
    uvicorn examples.fastapi_app:app --reload

    DOTDO_ENDPOINT=memory:// uvicorn examples.fastapi_app:app   # or an in-process platform

    curl localhost:8000/config
    curl -X POST localhost:8000/users -H 'content-type: application/json' \\
         -d '{"name": "Ada", "email": "ada@example.com"}'
    curl localhost:8000/users/<id>
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dotdo import NotFoundError, dotdo

USERS = "users"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Nothing to open at start-up (the first call does it); close the session at shutdown."""
    yield
    await dotdo.close()


app = FastAPI(title="dotdo example", lifespan=lifespan)


@app.exception_handler(NotFoundError)
async def not_found(request: Request, error: NotFoundError) -> JSONResponse:
    """Anything the platform does not have is a 404, with the platform's own message."""
    return JSONResponse(status_code=404, content={"detail": error.message})


class NewUser(BaseModel):
    """What a client sends to create a user."""

    name: str = Field(min_length=1, max_length=100)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class UserOut(NewUser):
    """A stored user."""

    id: str


@app.get("/config")
async def config() -> dict[str, Any]:
    """Which database this app is configured for; the secret itself is never returned.

    The value is cached for a minute, so this costs no round trip on most requests.
    """
    url = await dotdo.secrets.get("DATABASE_URL", cache_ttl=60, default=None)
    if url is None:
        return {"database": "not configured"}
    return {"database": "configured", "host": urlsplit(url).hostname}


@app.post("/users", status_code=201)
async def create_user(user: NewUser) -> UserOut:
    """Store a new user document under a fresh id."""
    user_id = uuid.uuid4().hex
    stored = await dotdo.collections(USERS).set(user_id, user.model_dump())
    return UserOut(id=user_id, **stored)


@app.get("/users/{user_id}")
async def read_user(user_id: str) -> UserOut:
    """A stored user, or 404 (``NotFoundError`` from the platform, mapped above)."""
    stored = await dotdo.collections(USERS).get(user_id)
    return UserOut(id=user_id, **stored)
