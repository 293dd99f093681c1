from __future__ import annotations

import time
import uuid

import jwt
import pytest
from pydantic import ValidationError

from producer_api.security import InvalidToken, decode, hash_password, issue, verify_password
from producer_api.settings import ApiSettings

KEY = "s" * 64
SETTINGS = ApiSettings(env="test", jwt_secret=KEY)


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sid": str(uuid.uuid4()),
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "sub": str(uuid.uuid4()),
        "typ": "access",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_passwords_are_argon2id_and_verify() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "wrong horse battery")
    assert not verify_password(None, "anything at all")


def test_an_issued_access_token_decodes() -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    issued = issue(SETTINGS, user_id, session_id, "access")
    claims = decode(SETTINGS, issued.token, "access")
    assert (claims.user_id, claims.session_id, claims.token_id) == (user_id, session_id, issued.token_id)
    assert issued.ttl == SETTINGS.access_token_ttl_s


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(_claims(), KEY, algorithm="HS512"),  # another algorithm
        jwt.encode(_claims(), "x" * 64, algorithm="HS256"),  # another key
        jwt.encode(_claims(exp=int(time.time()) - 3600), KEY, algorithm="HS256"),  # expired
        jwt.encode(_claims(exp=None), KEY, algorithm="HS256"),  # no exp
        jwt.encode(_claims(iss="evil"), KEY, algorithm="HS256"),
        jwt.encode(_claims(aud="other"), KEY, algorithm="HS256"),
        jwt.encode(_claims(typ="refresh"), KEY, algorithm="HS256"),
        jwt.encode(_claims(sid=None), KEY, algorithm="HS256"),  # no session
        jwt.encode(_claims(sid="../../etc/passwd"), KEY, algorithm="HS256"),
        jwt.encode(_claims(), None, algorithm="none"),  # alg=none
        "not.a.token",
    ],
    ids=[
        "hs512",
        "wrong-key",
        "expired",
        "no-exp",
        "wrong-iss",
        "wrong-aud",
        "refresh-as-access",
        "no-sid",
        "bad-sid",
        "alg-none",
        "garbage",
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        decode(SETTINGS, token, "access")


def test_a_tampered_payload_is_refused() -> None:
    token = issue(SETTINGS, uuid.uuid4(), uuid.uuid4(), "access").token
    header, _payload, signature = token.split(".")
    forged = jwt.encode(_claims(role="admin"), "x" * 64, algorithm="HS256").split(".")[1]
    with pytest.raises(InvalidToken):
        decode(SETTINGS, f"{header}.{forged}.{signature}", "access")


def test_the_development_secret_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        ApiSettings(env="prod")
    ApiSettings(env="prod", jwt_secret="p" * 40)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="jwt_secret"):
        ApiSettings(jwt_secret="short")
