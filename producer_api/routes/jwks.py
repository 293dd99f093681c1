"""GET /.well-known/jwks.json: the public keys tokens are verified with (none for HS256)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from producer_api.models import Jwk, Jwks
from producer_api.state import State

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", response_model=Jwks, response_model_exclude_none=True)
async def jwks(state: State, response: Response) -> Jwks:
    """The current signing key and the previous ones still accepted (RS256/EdDSA); HS256: no keys."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return Jwks(keys=[Jwk.model_validate(key) for key in state.settings.jwt_keys.jwks])
