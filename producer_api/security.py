"""Passwords (argon2id) and tokens (JWT with a pinned algorithm, a known key and required claims)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from producer_api.errors import ApiError
from producer_api.passwords import normalize
from producer_api.settings import ApiSettings

# OWASP's minimum for argon2id: 19 MiB of memory, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user does not exist, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only here to spend the same time")

TokenKind = Literal["access", "refresh"]
REQUIRED_CLAIMS = ["iss", "aud", "sub", "sid", "exp", "iat", "jti", "typ"]
# Headers that point at a key somewhere else: we never fetch or trust one, and refuse tokens that carry them.
_KEY_POINTERS = frozenset({"jku", "x5u", "jwk", "x5c"})


def hash_password(password: str) -> str:
    """The argon2id hash of the NFKC form, so that every way of typing the same text verifies."""
    return _hasher.hash(normalize(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, normalize(password)) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (checked after a successful login)."""
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    kind: TokenKind
    token_id: str
    expires_at: int


class InvalidToken(ApiError):
    """Not a token we issued, of this kind, in its time. The caller never learns why: every such token gets
    the same `Unauthorized`."""


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
    keys = settings.jwt_keys
    headers = {"kid": keys.kid} if keys.kid else None
    return Issued(jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=headers), token_id, ttl)


def decode(settings: ApiSettings, token: str, kind: TokenKind) -> Claims:
    """The claims of a token we issued, of this kind, in its time; `InvalidToken` for anything else.

    The key is the one whose `kid` the header names exactly (HS256: no `kid`); the algorithm is the configured
    one whatever the header says; `exp`, `iat` and (when present) `nbf` are checked with the leeway.
    """
    keys = settings.jwt_keys
    try:
        header = jwt.get_unverified_header(token)
        if _KEY_POINTERS & header.keys():
            raise InvalidToken("key pointers in the header are refused")
        key = keys.verifying_key(header.get("kid"))
        if key is None:
            raise InvalidToken("unknown kid")
        claims = jwt.decode(
            token,
            key,
            algorithms=[keys.algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_s,
            options={"require": REQUIRED_CLAIMS, "verify_nbf": True, "verify_iat": True},
        )
        if claims["typ"] != kind:
            raise InvalidToken(f"not an {kind} token")
        return Claims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), kind, str(claims["jti"]), int(claims["exp"]))
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None
