"""POST /v1/auth/register and /v1/auth/token."""

from __future__ import annotations

from fastapi import APIRouter

from producer_api.errors import ApiError
from producer_api.models import Credentials, TokenPair, UserOut
from producer_api.security import issue
from producer_api.services import users
from producer_api.state import State

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    responses={409: {"description": "username taken"}, 422: {"description": "invalid"}},
)
async def register(body: Credentials, state: State) -> UserOut:
    try:
        user = await users.register(state.pool, body.username, body.password)
    except users.UsernameTaken:
        raise ApiError(409, "username_taken", "this username is taken") from None
    return UserOut(user_id=user.user_id, username=user.username)


@router.post("/token", response_model=TokenPair, responses={401: {"description": "bad credentials"}})
async def token(body: Credentials, state: State) -> TokenPair:
    user = await users.authenticate(state.pool, body.username, body.password)
    if user is None:
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    access, ttl = issue(state.settings, user.user_id, user.role, "access")
    refresh, _ = issue(state.settings, user.user_id, user.role, "refresh")
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)
