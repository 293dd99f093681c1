"""Password rules (OWASP ASVS 2.1) as a unit; the API's answers to them are in `test_auth_api.py`."""

from __future__ import annotations

import pytest

from harness.stack import PASSWORD
from producer_api.errors import WeakPassword
from producer_api.passwords import MAX_LENGTH, MIN_LENGTH, check, common


@pytest.mark.parametrize(
    "password",
    [
        "a" * 11 + "b",  # 12 characters, no composition rules
        "twelve chars",  # spaces count
        "🔑" * 12,  # 12 code points (48 bytes)
        "z" * MAX_LENGTH,
        "пароль пароль",
        PASSWORD,  # what the test helpers register with
    ],
)
def test_allowed(password: str) -> None:
    check("someone", password)


@pytest.mark.parametrize(
    ("username", "password", "rule"),
    [
        ("someone", "a" * 11, "12 to 128 characters"),
        ("someone", "🔑" * 11, "12 to 128 characters"),
        ("someone", "z" * (MAX_LENGTH + 1), "12 to 128 characters"),
        ("ada_l", "my name is ADA_L, hi", "must not contain the username"),
        ("Grace", "amazing grace hopper", "must not contain the username"),
        ("someone", "Password1234", "list of common passwords"),
        ("someone", "ＰＡＳＳＷＯＲＤ１２３４", "list of common passwords"),  # NFKC first: full-width is the same
        ("someone", "correct horse battery staple", "list of common passwords"),
        ("someone", "CorrectHorse Battery Staple", "list of common passwords"),  # spaces do not make it new
        ("someone", "qwertyuiop123", "list of common passwords"),
    ],
)
def test_refused_with_the_rule_that_failed(username: str, password: str, rule: str) -> None:
    with pytest.raises(WeakPassword, match=rule):
        check(username, password)


def test_the_shipped_list_is_a_few_hundred_passwords_the_length_rule_allows() -> None:
    listed = common()
    assert 300 <= len(listed) <= 2000
    assert all(len(password) >= MIN_LENGTH for password in listed)
    assert all(password == password.casefold() for password in listed)
