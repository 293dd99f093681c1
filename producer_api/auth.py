"""Who is calling: the bearer token's user. `user_id` comes from the token and nowhere else."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from producer_api.errors import unauthorized
from producer_api.security import Claims, InvalidToken, decode
from producer_api.services import users
from producer_api.state import State

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /v1/auth/token")


async def current_user(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    try:
        claims = decode(state.settings, credentials.credentials, "access")
    except InvalidToken:
        raise unauthorized() from None
    if not await users.exists(state.pool, claims.user_id):
        raise unauthorized()
    return claims


CurrentUser = Annotated[Claims, Depends(current_user)]
