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
    session_id: uuid.UUID
    kind: TokenKind
    token_id: str
    expires_at: int


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Issued:
    token: str
    token_id: str
    ttl: int


def issue(settings: ApiSettings, user_id: uuid.UUID, session_id: uuid.UUID, kind: TokenKind) -> Issued:
    """A signed token of `session_id`. It names no role: the role is read from the database each time."""
    ttl = settings.access_token_ttl_s if kind == "access" else settings.refresh_token_ttl_s
    now = int(time.time())
    token_id = uuid.uuid4().hex
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": kind,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": token_id,
    }
    return Issued(jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM), token_id, ttl)


def decode(settings: ApiSettings, token: str, kind: TokenKind) -> Claims:
    """The claims of a token we issued, of this kind, not expired; `InvalidToken` for anything else."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_S,
            options={"require": ["iss", "aud", "sub", "sid", "exp", "iat", "jti", "typ"]},
        )
        if claims["typ"] != kind:
            raise InvalidToken(f"not an {kind} token")
        return Claims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), kind, str(claims["jti"]), int(claims["exp"]))
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None
