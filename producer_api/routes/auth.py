"""POST /v1/auth/register, /token, /refresh and /logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from producer_api.auth import CurrentUser
from producer_api.errors import InvalidCredentials, TooManyAttempts, Unauthorized, UsernameTaken, WeakPassword
from producer_api.models import Credentials, RefreshRequest, Registration, TokenPair, UserOut
from producer_api.openapi import refusals
from producer_api.services import sessions, users
from producer_api.state import State

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/register", status_code=201, response_model=UserOut, responses=refusals(UsernameTaken, WeakPassword))
async def register(body: Registration, state: State) -> UserOut:
    user = await users.register(state.pool, body.username, body.password)
    return UserOut(user_id=user.user_id, username=user.username)


@router.post("/token", response_model=TokenPair, responses=refusals(InvalidCredentials, TooManyAttempts))
async def token(body: Credentials, state: State, request: Request) -> TokenPair:
    address = request.client.host if request.client else "unknown"
    await state.logins.check(body.username, address)
    user = await users.authenticate(state.pool, body.username, body.password)
    if user is None:
        await state.logins.failed(body.username, address)
        raise InvalidCredentials()
    await state.logins.succeeded(body.username)
    return await sessions.open_session(state.pool, state.settings, user.user_id)


@router.post("/refresh", response_model=TokenPair, responses=refusals(Unauthorized))
async def refresh(body: RefreshRequest, state: State) -> TokenPair:
    """A new token pair. A refresh token works once; presenting a used one ends the whole session."""
    return await sessions.rotate(state.pool, state.settings, body.refresh_token)


@router.post("/logout", status_code=204)
async def logout(user: CurrentUser, state: State) -> Response:
    """End this session: its access and refresh tokens stop working at once."""
    await sessions.close(state.pool, user.session_id)
    state.roles.forget(user.user_id)  # here at once; other processes when they hear of it
    return Response(status_code=204)
