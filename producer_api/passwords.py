"""Password rules (OWASP ASVS 2.1): 12 to 128 characters, any Unicode, no composition rules; not the
username, not a common password. Passwords are NFKC-normalised before they are checked, hashed and
verified, so that every way of typing the same text (full-width forms, ligatures) is the same password.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources

from producer_api.errors import WeakPassword

MIN_LENGTH = 12
MAX_LENGTH = 128


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check(username: str, password: str) -> None:
    """Raise `WeakPassword` when `password` may not be used by `username`."""
    normalized = normalize(password)
    if not MIN_LENGTH <= len(normalized) <= MAX_LENGTH:
        raise WeakPassword(f"the password must have {MIN_LENGTH} to {MAX_LENGTH} characters")
    folded = normalized.casefold()
    if username.casefold() in folded:
        raise WeakPassword("the password must not contain the username")
    if folded in common() or "".join(folded.split()) in common():
        raise WeakPassword("this password is on a list of common passwords that attackers try first; choose another")


@cache
def common() -> frozenset[str]:
    """The shipped list of common and breached passwords, case-folded."""
    text = resources.files(__package__).joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())
