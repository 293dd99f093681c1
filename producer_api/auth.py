"""Who is calling: the bearer token's user. `user_id` comes from the token and nowhere else; the role
comes from the database, so that a demoted or deleted user loses access at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from producer_api.errors import Forbidden, Unauthorized
from producer_api.security import InvalidToken, decode
from producer_api.state import State

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /v1/auth/token")


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str


async def current_user(
    state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    try:
        claims = decode(state.settings, credentials.credentials, "access")
    except InvalidToken:
        raise Unauthorized() from None
    role = await state.roles.role(claims.user_id, claims.session_id)
    if role is None:  # logged out, session expired or revoked, user deleted
        raise Unauthorized()
    structlog.contextvars.bind_contextvars(user_id=str(claims.user_id))  # on the request's log lines
    return Principal(claims.user_id, claims.session_id, role)


async def current_admin(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if user.role != "admin":
        raise Forbidden()
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Security(current_admin, scopes=["admin"])]  # the role, in the OpenAPI document
