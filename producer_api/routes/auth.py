"""POST /v1/auth/register, /token, /refresh and /logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from producer_api.auth import CurrentUser
from producer_api.errors import ApiError, unauthorized
from producer_api.models import Credentials, RefreshRequest, Registration, TokenPair, UserOut
from producer_api.passwords import WeakPassword
from producer_api.security import InvalidToken
from producer_api.services import sessions, users
from producer_api.services.throttle import Throttled
from producer_api.state import State

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    responses={409: {"description": "username taken"}, 422: {"description": "invalid, or a weak password"}},
)
async def register(body: Registration, state: State) -> UserOut:
    try:
        user = await users.register(state.pool, body.username, body.password)
    except users.UsernameTaken:
        raise ApiError(409, "username_taken", "this username is taken") from None
    except WeakPassword as exc:
        raise ApiError(422, "weak_password", str(exc)) from None
    return UserOut(user_id=user.user_id, username=user.username)


@router.post(
    "/token",
    response_model=TokenPair,
    responses={401: {"description": "bad credentials"}, 429: {"description": "too many failed logins"}},
)
async def token(body: Credentials, state: State, request: Request) -> TokenPair:
    address = request.client.host if request.client else "unknown"
    try:
        await state.logins.check(body.username, address)
    except Throttled as exc:
        raise ApiError(429, "too_many_attempts", str(exc), {"Retry-After": str(exc.retry_after_s)}) from None
    user = await users.authenticate(state.pool, body.username, body.password)
    if user is None:
        await state.logins.failed(body.username, address)
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    await state.logins.succeeded(body.username)
    return await sessions.open_session(state.pool, state.settings, user.user_id)


@router.post("/refresh", response_model=TokenPair, responses={401: {"description": "invalid, used or expired"}})
async def refresh(body: RefreshRequest, state: State) -> TokenPair:
    """A new token pair. A refresh token works once; presenting a used one ends the whole session."""
    try:
        return await sessions.rotate(state.pool, state.settings, body.refresh_token)
    except InvalidToken:
        raise unauthorized() from None


@router.post("/logout", status_code=204, responses={401: {"description": "not logged in"}})
async def logout(user: CurrentUser, state: State) -> Response:
    """End this session: its access and refresh tokens stop working at once."""
    await sessions.close(state.pool, user.session_id)
    return Response(status_code=204)
