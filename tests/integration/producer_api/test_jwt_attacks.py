"""The JWT attack matrix against real API processes (HS256, RS256, EdDSA) on real PostgreSQL and Kafka.

Every attack ends in 401 with one and the same body, whichever check refused it: a refusal tells an
attacker nothing about what to change. The cases that must work (tokens of each algorithm, the JWKS, a
previous key during a rotation) follow the matrix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from harness.stack import Client, Stack
from producer_api.keys import PrivateKey, jwk_members, thumbprint
from producer_api.settings import DEV_JWT_SECRET
from tests.support.tokens import ed25519_key, hmac_signed, public_pem, replace_payload, rsa_key, unsigned, write_keys

REFUSED = {"error": {"code": "unauthorized", "message": "missing, invalid or expired credentials"}}
REQUIRED = ["iss", "aud", "sub", "sid", "exp", "iat", "jti", "typ"]


def kid_of(key: PrivateKey) -> str:
    return thumbprint(jwk_members(key.public_key()))


@dataclass(frozen=True)
class Api:
    """An API process whose keys the test knows, and the calls the attacks make on it."""

    stack: Stack
    url: str
    algorithm: str
    key: str | PrivateKey
    previous: PrivateKey | None = None

    @property
    def kid(self) -> str | None:
        return None if isinstance(self.key, str) else kid_of(self.key)

    def user(self) -> Client:
        return self.stack.client(self.url)

    def claims(self) -> tuple[Client, dict[str, Any]]:
        """A new logged-in user and the claims of its (valid) access token."""
        user = self.user()
        return user, jwt.decode(user.token, options={"verify_signature": False})

    def sign(self, claims: dict[str, Any], key: str | PrivateKey | None = None, **header: Any) -> str:
        """Signed as this API signs (algorithm, key, kid) unless `key` or `header` say otherwise."""
        headers = ({"kid": self.kid} if self.kid else {}) | header
        return jwt.encode(claims, key or self.key, algorithm=self.algorithm, headers=headers or None)

    def other_key(self) -> str | PrivateKey:
        """A key of the same kind as the API's that the API does not know."""
        if isinstance(self.key, str):
            return "an attacker's own secret of 32 characters or more"
        return rsa_key() if self.algorithm == "RS256" else ed25519_key()

    def queue(self, token: str, scheme: str = "Bearer") -> httpx.Response:
        return httpx.get(f"{self.url}/v1/queue", headers={"Authorization": f"{scheme} {token}"})

    def refresh(self, refresh_token: str) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/auth/refresh", json={"refresh_token": refresh_token})


@pytest.fixture(scope="module")
def hs256_api(module_stack: Stack, module_api: str) -> Api:
    return Api(module_stack, module_api, "HS256", DEV_JWT_SECRET)


@pytest.fixture(scope="module")
def rs256_api(module_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Api:
    current, previous = rsa_key(), rsa_key()
    directory = tmp_path_factory.mktemp("rs256")
    private_file, _ = write_keys(directory, "current", current)
    _, previous_file = write_keys(directory, "previous", previous)
    url = module_stack.start_api(
        JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=str(private_file), JWT_PUBLIC_KEY_FILES=str(previous_file)
    )
    return Api(module_stack, url, "RS256", current, previous)


@pytest.fixture(scope="module")
def eddsa_api(module_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Api:
    key = ed25519_key()
    private_file, _ = write_keys(tmp_path_factory.mktemp("eddsa"), "current", key)
    return Api(
        module_stack,
        module_stack.start_api(JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=str(private_file)),
        "EdDSA",
        key,
    )


Attack = Callable[[Api], list[httpx.Response]]


def no_token(api: Api) -> list[httpx.Response]:
    return [httpx.get(f"{api.url}/v1/queue")]


def garbage(api: Api) -> list[httpx.Response]:
    empty = httpx.get(f"{api.url}/v1/queue", headers={"Authorization": "Bearer"})
    return [api.queue("nonsense"), api.queue("a.b.c"), api.queue("e30.e30.e30"), empty]


def basic_scheme(api: Api) -> list[httpx.Response]:
    return [api.queue(api.user().token, scheme="Basic")]


def alg_none(api: Api) -> list[httpx.Response]:
    _, claims = api.claims()
    return [api.queue(unsigned(claims, alg)) for alg in ("none", "None", "NONE")]


def other_hmac(api: Api) -> list[httpx.Response]:
    """The right secret under HS512: the algorithm is pinned, not read from the header."""
    _, claims = api.claims()
    return [api.queue(hmac_signed({}, claims, DEV_JWT_SECRET.encode(), alg)) for alg in ("HS384", "HS512")]


def public_key_as_hmac_secret(api: Api) -> list[httpx.Response]:
    """Algorithm confusion: HS256 with the server's public key (PEM, as published) as the HMAC secret."""
    assert not isinstance(api.key, str)
    _, claims = api.claims()
    return [
        api.queue(hmac_signed({"kid": api.kid}, claims, public_pem(api.key))),
        api.queue(hmac_signed({}, claims, public_pem(api.key))),
    ]


def changed(**changes: Any) -> Attack:
    def attack(api: Api) -> list[httpx.Response]:
        _, claims = api.claims()
        return [api.queue(api.sign({**claims, **{k: v(claims) if callable(v) else v for k, v in changes.items()}}))]

    return attack


def missing(claim: str) -> Attack:
    def attack(api: Api) -> list[httpx.Response]:
        _, claims = api.claims()
        return [api.queue(api.sign({k: v for k, v in claims.items() if k != claim}))]

    return attack


def tampered(api: Api) -> list[httpx.Response]:
    """Another (real) user's id in the payload, the original signature kept."""
    victim, claims = api.claims()
    other = api.user()
    return [api.queue(replace_payload(victim.token, {**claims, "sub": other.user_id}))]


def bad_signature(api: Api) -> list[httpx.Response]:
    """Signed with a key the API does not know, under the API's own `kid`."""
    _, claims = api.claims()
    return [api.queue(api.sign(claims, key=api.other_key()))]


def kid(value: str) -> Attack:
    """Signed with the API's real key: only the `kid` is foreign, and a `kid` is matched, never followed."""

    def attack(api: Api) -> list[httpx.Response]:
        _, claims = api.claims()
        return [api.queue(api.sign(claims, kid=value))]

    return attack


def kid_dev_null_empty_key(api: Api) -> list[httpx.Response]:
    """The classic: `kid` names /dev/null, the token is HMAC'd with its content, the empty key."""
    _, claims = api.claims()
    return [api.queue(hmac_signed({"kid": "../../../../dev/null"}, claims, b""))]


def key_pointer(name: str) -> Attack:
    """The attacker's key, offered in the header (`jwk`) or at a URL (`jku`, `x5u`), signs the token."""

    def attack(api: Api) -> list[httpx.Response]:
        _, claims = api.claims()
        attacker = rsa_key()
        offers: dict[str, dict[str, Any]] = {
            "jku": {"kid": kid_of(attacker), "jku": "http://127.0.0.1:9/jwks.json"},
            "x5u": {"kid": kid_of(attacker), "x5u": "http://127.0.0.1:9/attacker.pem"},
            "jwk": {"kid": api.kid, "jwk": {**jwk_members(attacker.public_key()), "kid": api.kid}},
        }
        offered = offers[name]
        return [api.queue(jwt.encode(claims, attacker, algorithm="RS256", headers=offered))]

    return attack


def unknown_key(api: Api) -> list[httpx.Response]:
    _, claims = api.claims()
    attacker = api.other_key()
    assert not isinstance(attacker, str)
    return [api.queue(api.sign(claims, key=attacker, kid=kid_of(attacker)))]


def refresh_as_access(api: Api) -> list[httpx.Response]:
    return [api.queue(api.user().refresh_token)]


def access_as_refresh(api: Api) -> list[httpx.Response]:
    return [api.refresh(api.user().token)]


def after_logout(api: Api) -> list[httpx.Response]:
    user = api.user()
    assert user.http.post("/v1/auth/logout").status_code == 204
    return [api.queue(user.token), api.refresh(user.refresh_token)]


def refresh_reused(api: Api) -> list[httpx.Response]:
    """A used refresh token again: refused, and the whole session with it (the newest tokens too)."""
    user = api.user()
    rotated = api.refresh(user.refresh_token)
    assert rotated.status_code == 200
    newest = rotated.json()
    assert api.queue(newest["access_token"]).status_code == 200
    answers = [api.refresh(user.refresh_token), api.queue(newest["access_token"]), api.refresh(newest["refresh_token"])]
    with api.stack.db() as conn:
        reason = conn.execute("select revoked_reason from sessions where user_id = %s", (user.user_id,)).fetchall()
    assert reason == [("refresh_reused",)]
    return answers


def deleted_user(api: Api) -> list[httpx.Response]:
    user = api.user()
    with api.stack.db() as conn:
        conn.execute("delete from users where user_id = %s", (user.user_id,))
    return [api.queue(user.token), api.refresh(user.refresh_token)]


def _now(offset: int) -> Callable[[dict[str, Any]], int]:
    return lambda _claims: int(time.time()) + offset


MATRIX: list[tuple[str, str, Attack]] = [
    ("no-token", "hs256", no_token),
    ("garbage", "hs256", garbage),
    ("basic-scheme", "hs256", basic_scheme),
    ("alg-none", "hs256", alg_none),
    ("alg-none", "rs256", alg_none),
    ("alg-none", "eddsa", alg_none),
    ("hs384-hs512-with-the-right-secret", "hs256", other_hmac),
    ("hs256-signed-with-the-rs256-public-key", "rs256", public_key_as_hmac_secret),
    ("hs256-signed-with-the-eddsa-public-key", "eddsa", public_key_as_hmac_secret),
    ("expired", "hs256", changed(iat=_now(-7200), exp=_now(-120))),
    ("expired", "rs256", changed(iat=_now(-7200), exp=_now(-120))),
    ("nbf-in-the-future", "hs256", changed(nbf=_now(120))),
    ("iat-in-the-future", "hs256", changed(iat=_now(120))),
    ("wrong-iss", "hs256", changed(iss="https://evil.example")),
    ("wrong-aud", "hs256", changed(aud="another-api")),
    ("tampered-payload", "hs256", tampered),
    ("tampered-payload", "rs256", tampered),
    ("bad-signature", "hs256", bad_signature),
    ("bad-signature", "rs256", bad_signature),
    ("bad-signature", "eddsa", bad_signature),
    *((f"missing-{claim}", "hs256", missing(claim)) for claim in REQUIRED),
    ("kid-path-traversal", "hs256", kid("../../../../dev/null")),
    ("kid-path-traversal", "rs256", kid("../../../../dev/null")),
    ("kid-sql-injection", "hs256", kid("' OR 1=1 --")),
    ("kid-sql-injection", "rs256", kid("' OR 1=1 --")),
    ("kid-dev-null-empty-hmac-key", "hs256", kid_dev_null_empty_key),
    ("kid-dev-null-empty-hmac-key", "rs256", kid_dev_null_empty_key),
    ("jku-attacker-key", "rs256", key_pointer("jku")),
    ("x5u-attacker-key", "rs256", key_pointer("x5u")),
    ("jwk-attacker-key", "rs256", key_pointer("jwk")),
    ("unknown-key", "rs256", unknown_key),
    ("refresh-token-as-access-token", "hs256", refresh_as_access),
    ("access-token-as-refresh-token", "hs256", access_as_refresh),
    ("after-logout", "hs256", after_logout),
    ("reused-refresh-token", "hs256", refresh_reused),
    ("deleted-user", "hs256", deleted_user),
]


@pytest.mark.parametrize(
    ("mode", "attack"), [pytest.param(mode, attack, id=f"{name}-{mode}") for name, mode, attack in MATRIX]
)
def test_attack_gets_the_uniform_401(mode: str, attack: Attack, request: pytest.FixtureRequest) -> None:
    answers = attack(request.getfixturevalue(f"{mode}_api"))
    assert answers
    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.json() == REFUSED
        assert answer.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("mode", ["hs256", "rs256", "eddsa"])
def test_the_forgers_tokens_work_when_nothing_is_changed(mode: str, request: pytest.FixtureRequest) -> None:
    """The control: each attack above changes one thing in a token that is otherwise accepted."""
    api: Api = request.getfixturevalue(f"{mode}_api")
    _, claims = api.claims()
    assert api.queue(api.sign(claims)).status_code == 200


@pytest.mark.parametrize("mode", ["rs256", "eddsa"])
def test_asymmetric_tokens_work_end_to_end(mode: str, request: pytest.FixtureRequest) -> None:
    api: Api = request.getfixturevalue(f"{mode}_api")
    user = api.user()  # registered and logged in through this API
    header = jwt.get_unverified_header(user.token)
    assert (header["alg"], header["kid"]) == (api.algorithm, api.kid)
    assert user.http.get("/v1/queue").status_code == 200
    # any JOSE library verifies our tokens from the JWKS alone
    published = jwt.PyJWKSet.from_dict(httpx.get(f"{api.url}/.well-known/jwks.json").json())
    claims = jwt.decode(user.token, published[header["kid"]], algorithms=[api.algorithm], audience="userq-api")
    assert claims["sub"] == user.user_id
    rotated = api.refresh(user.refresh_token)
    assert rotated.status_code == 200
    assert api.queue(rotated.json()["access_token"]).status_code == 200


def test_the_jwks_lists_the_current_and_the_previous_keys(hs256_api: Api, rs256_api: Api, eddsa_api: Api) -> None:
    assert httpx.get(f"{hs256_api.url}/.well-known/jwks.json").json() == {"keys": []}
    answer = httpx.get(f"{rs256_api.url}/.well-known/jwks.json")
    assert answer.headers["Cache-Control"].startswith("public")
    assert rs256_api.previous is not None
    assert [key["kid"] for key in answer.json()["keys"]] == [rs256_api.kid, kid_of(rs256_api.previous)]
    for key in answer.json()["keys"]:
        assert set(key) == {"kid", "kty", "alg", "use", "n", "e"}
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    [key] = httpx.get(f"{eddsa_api.url}/.well-known/jwks.json").json()["keys"]
    assert set(key) == {"kid", "kty", "alg", "use", "crv", "x"}
    assert (key["kid"], key["kty"], key["crv"], key["alg"], key["use"]) == (
        eddsa_api.kid,
        "OKP",
        "Ed25519",
        "EdDSA",
        "sig",
    )


def test_a_token_of_a_previous_key_is_still_accepted(rs256_api: Api) -> None:
    assert rs256_api.previous is not None
    _, claims = rs256_api.claims()
    token = rs256_api.sign(claims, key=rs256_api.previous, kid=kid_of(rs256_api.previous))
    assert rs256_api.queue(token).status_code == 200
