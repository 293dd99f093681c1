"""Key rings: RFC 7638 thumbprints as `kid`, and a `kid` found by exact match only."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from producer_api.keys import asymmetric_ring, hmac_ring, jwk_members, thumbprint
from tests.support.tokens import ed25519_key, rsa_key


def _int(b64: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)), "big")


def test_thumbprints_are_rfc_7638() -> None:
    # RFC 7638, section 3.1
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
        "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA"
        "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
        "kEgU8awapJzKnqDKgw"
    )
    key = rsa.RSAPublicNumbers(_int("AQAB"), _int(n)).public_key()
    assert jwk_members(key) == {"kty": "RSA", "n": n, "e": "AQAB"}
    assert thumbprint(jwk_members(key)) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    # RFC 8037, appendix A.3
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    okp = ed25519.Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))
    assert thumbprint(jwk_members(okp)) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_a_kid_is_matched_exactly_and_nothing_else() -> None:
    current, previous = rsa_key(), rsa_key()
    ring = asymmetric_ring("RS256", current, [previous.public_key(), current.public_key()])
    assert ring.kid == thumbprint(jwk_members(current.public_key()))
    assert [key["kid"] for key in ring.jwks] == [ring.kid, thumbprint(jwk_members(previous.public_key()))]
    assert ring.verifying_key(ring.kid) is not None
    assert ring.verifying_key(ring.jwks[1]["kid"]) is not None
    foreigners: list[object] = [
        None,
        "",
        "../../../../dev/null",
        "' OR 1=1 --",
        ring.kid.upper(),
        ring.kid + " ",
        ["x"],
        1,
    ]
    for foreign in foreigners:
        assert ring.verifying_key(foreign) is None, foreign


def test_hs256_tokens_carry_no_kid() -> None:
    ring = hmac_ring("s" * 40)
    assert (ring.kid, ring.jwks) == (None, ())
    assert ring.verifying_key(None) == "s" * 40
    assert ring.verifying_key("anything") is None


def test_eddsa_keys_are_published_as_okp() -> None:
    key = ed25519_key()
    ring = asymmetric_ring("EdDSA", key, [])
    [published] = ring.jwks
    assert published == {**jwk_members(key.public_key()), "kid": ring.kid, "alg": "EdDSA", "use": "sig"}
    assert published["crv"] == "Ed25519"
