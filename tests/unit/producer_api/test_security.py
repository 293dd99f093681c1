"""Password hashing and token issue/decode as units; the attacks on tokens are in `test_jwt_attacks.py`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from argon2 import PasswordHasher

from producer_api.keys import PrivateKey
from producer_api.security import InvalidToken, decode, hash_password, issue, needs_rehash, verify_password
from producer_api.settings import ApiSettings
from tests.support.tokens import ed25519_key, rsa_key, write_keys

KEY = "s" * 64
SETTINGS = ApiSettings(env="test", jwt_secret=KEY)


def test_passwords_are_argon2id_and_verify() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "wrong horse battery")
    assert not verify_password(None, "anything at all")


def test_passwords_are_nfkc_normalised_before_hashing_and_verifying() -> None:
    hashed = hash_password("ｆｕｌｌ ｗｉｄｔｈ ＆ ﬁne")  # full-width forms and the fi ligature
    assert verify_password(hashed, "full width & fine")
    assert verify_password(hash_password("full width & fine"), "ｆｕｌｌ ｗｉｄｔｈ ＆ ﬁne")
    assert not verify_password(hashed, "Full Width & Fine"), "NFKC keeps case"


def test_a_hash_with_weaker_parameters_needs_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("correct horse battery")
    assert verify_password(weak, "correct horse battery")
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("correct horse battery"))


def test_an_issued_access_token_decodes() -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    issued = issue(SETTINGS, user_id, session_id, "access")
    assert "kid" not in jwt.get_unverified_header(issued.token), "HS256 tokens name no key"
    claims = decode(SETTINGS, issued.token, "access")
    assert (claims.user_id, claims.session_id, claims.token_id) == (user_id, session_id, issued.token_id)
    assert issued.ttl == SETTINGS.access_token_ttl_s
    with pytest.raises(InvalidToken):
        decode(SETTINGS, issued.token, "refresh")


@pytest.mark.parametrize(("algorithm", "make_key"), [("RS256", rsa_key), ("EdDSA", ed25519_key)])
def test_asymmetric_tokens_carry_the_kid_of_the_signing_key(
    algorithm: str, make_key: Callable[[], PrivateKey], tmp_path: Path
) -> None:
    private, _ = write_keys(tmp_path, "current", make_key())
    settings = ApiSettings(env="prod", jwt_algorithm=algorithm, jwt_private_key_file=private)
    issued = issue(settings, uuid.uuid4(), uuid.uuid4(), "access")
    header = jwt.get_unverified_header(issued.token)
    assert (header["alg"], header["kid"]) == (algorithm, settings.jwt_keys.kid)
    assert decode(settings, issued.token, "access").token_id == issued.token_id
    with pytest.raises(InvalidToken):
        decode(SETTINGS, issued.token, "access")  # an HS256 API refuses it


def _signed(settings: ApiSettings, **changes: int) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "typ": "access",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }
    return jwt.encode({**claims, **changes}, KEY, algorithm="HS256")


@pytest.mark.parametrize(
    ("changes", "leeway", "accepted"),
    [
        ({"exp": -20}, 30, True),  # expired within the leeway
        ({"exp": -40}, 30, False),
        ({"exp": -20}, 0, False),
        ({"exp": -50}, 60, True),
        ({"nbf": 20}, 30, True),  # not yet valid, within the leeway
        ({"nbf": 40}, 30, False),
        ({"nbf": -5}, 0, True),
        ({"iat": 40}, 30, False),  # issued in the future
    ],
)
def test_times_are_checked_with_the_leeway(changes: dict[str, int], leeway: int, accepted: bool) -> None:
    settings = ApiSettings(env="test", jwt_secret=KEY, jwt_leeway_s=leeway)
    token = _signed(settings, **{claim: int(time.time()) + offset for claim, offset in changes.items()})
    if accepted:
        decode(settings, token, "access")
    else:
        with pytest.raises(InvalidToken):
            decode(settings, token, "access")
