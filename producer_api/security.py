"""Passwords (argon2id) and tokens (JWT with a pinned algorithm and required claims)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from producer_api.settings import ApiSettings

# OWASP's minimum for argon2id: 19 MiB of memory, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user does not exist, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only here to spend the same time")

ALGORITHM = "HS256"
LEEWAY_S = 30
TokenKind = Literal["access", "refresh"]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    role: str
    kind: TokenKind
    token_id: str
    expires_at: int


class InvalidToken(Exception):
    pass


def issue(settings: ApiSettings, user_id: uuid.UUID, role: str, kind: TokenKind) -> tuple[str, int]:
    """A signed token and its lifetime in seconds."""
    ttl = settings.access_token_ttl_s if kind == "access" else settings.refresh_token_ttl_s
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "role": role,
        "typ": kind,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM), ttl


def decode(settings: ApiSettings, token: str, kind: TokenKind) -> Claims:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_S,
            options={"require": ["iss", "aud", "sub", "exp", "iat", "jti", "typ"]},
        )
        if claims["typ"] != kind:
            raise InvalidToken(f"not an {kind} token")
        return Claims(
            uuid.UUID(claims["sub"]), str(claims.get("role", "user")), kind, str(claims["jti"]), int(claims["exp"])
        )
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken(str(exc)) from None
