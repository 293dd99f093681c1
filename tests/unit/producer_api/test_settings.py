"""The API refuses to start with settings that would make tokens unsafe; each refusal says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from producer_api.settings import ApiSettings
from tests.support.tokens import ed25519_key, rsa_key, write_keys


def test_the_development_secret_is_refused_outside_dev_and_test() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be set"):
        ApiSettings(env="prod")
    ApiSettings(env="prod", jwt_secret="p" * 40)
    ApiSettings(env="dev")
    ApiSettings(env="test")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="jwt_secret"):
        ApiSettings(jwt_secret="short")


def test_the_leeway_is_at_most_60_s() -> None:
    assert ApiSettings().jwt_leeway_s == 30
    ApiSettings(jwt_leeway_s=60)
    with pytest.raises(ValidationError, match="jwt_leeway_s"):
        ApiSettings(jwt_leeway_s=61)


def test_rs256_loads_the_key_and_the_previous_public_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current, _ = write_keys(tmp_path, "current", rsa_key())
    _, old1 = write_keys(tmp_path, "old1", rsa_key())
    _, old2 = write_keys(tmp_path, "old2", rsa_key())
    for listed in (f"{old1}, {old2}", f'["{old1}", "{old2}"]'):  # comma-separated, or a JSON list
        monkeypatch.setenv("JWT_PUBLIC_KEY_FILES", listed)
        settings = ApiSettings(env="prod", jwt_algorithm="RS256", jwt_private_key_file=current)
        assert settings.jwt_public_key_files == [old1, old2]
        assert settings.jwt_keys.jwks[0]["kid"] == settings.jwt_keys.kid
        assert len(settings.jwt_keys.jwks) == 3


@pytest.mark.parametrize(
    ("algorithm", "private", "public", "message"),
    [
        ("RS256", None, None, "JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY_FILE"),
        ("EdDSA", None, None, "JWT_ALGORITHM=EdDSA needs JWT_PRIVATE_KEY_FILE"),
        ("RS256", "ed25519", None, "JWT_PRIVATE_KEY_FILE .*ed25519.pem: JWT_ALGORITHM=RS256 needs an RSA key"),
        ("EdDSA", "rsa", None, "JWT_ALGORITHM=EdDSA needs an Ed25519 or Ed448 key"),
        ("RS256", "rsa1024", None, "an RSA key needs at least 2048 bits, this one has 1024"),
        ("RS256", "rsa", "rsa1024", "JWT_PUBLIC_KEY_FILES .*at least 2048 bits"),
        ("RS256", "rsa", "ed25519", "JWT_PUBLIC_KEY_FILES .*needs an RSA key"),
        ("RS256", "missing", None, "JWT_PRIVATE_KEY_FILE .*nowhere.pem: cannot read it"),
        ("RS256", "garbage", None, "JWT_PRIVATE_KEY_FILE .*garbage.pem: not an unencrypted PEM private key"),
        ("RS256", "rsa", "garbage", "JWT_PUBLIC_KEY_FILES .*garbage.pem: not a PEM public key"),
        ("HS256", "rsa", None, "need JWT_ALGORITHM RS256 or EdDSA"),
    ],
)
def test_unusable_keys_refuse_to_start(
    algorithm: str, private: str | None, public: str | None, message: str, tmp_path: Path
) -> None:
    files = {
        "rsa": write_keys(tmp_path, "rsa", rsa_key()),
        "rsa1024": write_keys(tmp_path, "rsa1024", rsa_key(1024)),
        "ed25519": write_keys(tmp_path, "ed25519", ed25519_key()),
        "missing": (tmp_path / "nowhere.pem", tmp_path / "nowhere.pub.pem"),
    }
    (tmp_path / "garbage.pem").write_text("-----BEGIN NONSENSE-----\n")
    files["garbage"] = (tmp_path / "garbage.pem", tmp_path / "garbage.pem")
    with pytest.raises(ValidationError, match=message):
        ApiSettings(
            env="prod",
            jwt_secret="p" * 40,
            jwt_algorithm=algorithm,
            jwt_private_key_file=files[private][0] if private else None,
            jwt_public_key_files=[files[public][1]] if public else [],
        )
