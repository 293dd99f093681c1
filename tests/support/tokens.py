"""Keys and hand-made tokens for the token tests: PEM files, and JWTs with any header, key or signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from producer_api.keys import PrivateKey


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_keys(directory: Path, name: str, key: PrivateKey) -> tuple[Path, Path]:
    """`name.pem` (the private key, PKCS#8, unencrypted) and `name.pub.pem` (its public key)."""
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(public_pem(key))
    return private, public


def hmac_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes, alg: str = "HS256") -> str:
    """An HMAC token (HS256, HS384, HS512) made by hand: any header, any key, even an empty one or a PEM."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{_segment({'alg': alg, **header})}.{_segment(claims)}"
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), digest).digest())}"


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    """`alg: none` and an empty signature."""
    return f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(claims)}."


def replace_payload(token: str, claims: dict[str, Any]) -> str:
    """The token with another payload and its original header and signature."""
    header, _payload, signature = token.split(".")
    return f"{header}.{_segment(claims)}.{signature}"


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
