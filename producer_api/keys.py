"""Token keys: the HS256 secret, or an RS256/EdDSA signing key plus older public keys still accepted.

A token's key is found by its `kid` header in a dict built at start-up, by exact match and nothing else:
a `kid` is never a file name, a URL or part of a query. An asymmetric key's `kid` is its RFC 7638 JWK
thumbprint, computed, never configured. HS256 tokens carry no `kid`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

Algorithm = Literal["HS256", "RS256", "EdDSA"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class KeyRing:
    """What `security` signs with (`signing_key`, `kid`) and verifies with (`verifying_key`)."""

    algorithm: Algorithm
    signing_key: str | PrivateKey
    kid: str | None
    verifying: Mapping[str | None, str | PublicKey]
    jwks: tuple[dict[str, str], ...]

    def verifying_key(self, kid: object) -> str | PublicKey | None:
        """The key of this exact `kid` (None: no `kid` header), or None when there is no such key."""
        if kid is not None and not isinstance(kid, str):
            return None
        return self.verifying.get(kid)


def hmac_ring(secret: str) -> KeyRing:
    return KeyRing("HS256", secret, None, {None: secret}, ())


def asymmetric_ring(algorithm: Algorithm, private_key: PrivateKey, previous: list[PublicKey]) -> KeyRing:
    """The current key signs; it and the previous public keys verify and are published in the JWKS."""
    verifying: dict[str | None, str | PublicKey] = {}
    jwks = []
    for key in [private_key.public_key(), *previous]:
        members = jwk_members(key)
        kid = thumbprint(members)
        if kid not in verifying:
            verifying[kid] = key
            jwks.append({**members, "kid": kid, "alg": algorithm, "use": "sig"})
    current = thumbprint(jwk_members(private_key.public_key()))
    return KeyRing(algorithm, private_key, current, verifying, tuple(jwks))


def load(algorithm: Algorithm, secret: str, private_key_file: Path | None, public_key_files: list[Path]) -> KeyRing:
    """The key ring the settings describe; `ValueError` with the setting's name when they do not make one."""
    if algorithm == "HS256":
        if private_key_file is not None or public_key_files:
            raise ValueError("JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILES need JWT_ALGORITHM RS256 or EdDSA")
        return hmac_ring(secret)
    if private_key_file is None:
        raise ValueError(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY_FILE (a PEM private key)")
    private_key = _pem(private_key_file, "JWT_PRIVATE_KEY_FILE", private=True)
    where = f"JWT_PRIVATE_KEY_FILE {private_key_file}"
    if not isinstance(private_key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise ValueError(f"{where}: neither an RSA nor an Ed25519/Ed448 key")
    _check_type(algorithm, private_key.public_key(), where)
    return asymmetric_ring(algorithm, private_key, [_previous(algorithm, path) for path in public_key_files])


def jwk_members(key: PublicKey) -> dict[str, str]:
    """The JWK members RFC 7638 hashes: kty and n, e (RSA) or crv, x (OKP)."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": _b64_int(numbers.n), "e": _b64_int(numbers.e)}
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    crv = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
    return {"kty": "OKP", "crv": crv, "x": _b64(raw)}


def thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members as compact JSON in lexicographic order, base64url."""
    canonical = json.dumps(dict(members), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _check_type(algorithm: Algorithm, key: PublicKey, where: str) -> None:
    if algorithm == "RS256":
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError(f"{where}: JWT_ALGORITHM=RS256 needs an RSA key")
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"{where}: an RSA key needs at least {MIN_RSA_BITS} bits, this one has {key.key_size}")
    elif isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{where}: JWT_ALGORITHM=EdDSA needs an Ed25519 or Ed448 key")


def _previous(algorithm: Algorithm, path: Path) -> PublicKey:
    key, where = _pem(path, "JWT_PUBLIC_KEY_FILES", private=False), f"JWT_PUBLIC_KEY_FILES {path}"
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        raise ValueError(f"{where}: neither an RSA nor an Ed25519/Ed448 key")
    _check_type(algorithm, key, where)
    return key


def _pem(path: Path, setting: str, private: bool) -> object:
    """The key in a PEM file; `ValueError` naming the setting and the file when there is none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{setting} {path}: cannot read it ({exc.strerror})") from None
    try:
        return serialization.load_pem_private_key(data, password=None) if private else load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(
            f"{setting} {path}: not {'an unencrypted PEM private' if private else 'a PEM public'} key"
        ) from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))
