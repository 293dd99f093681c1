"""userq/tokens.py: the token stores, and the credentials file's promises (private, atomic, one login per
API URL, refreshes one at a time)."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import pytest

from userq.errors import CredentialsError
from userq.tokens import FileTokens, MemoryTokens, Tokens


def test_memory_tokens_keep_a_login_for_the_process() -> None:
    tokens = MemoryTokens()
    assert tokens.load() is None
    tokens.save(Tokens("a", "r", "alice"))
    assert tokens.load() == Tokens("a", "r", "alice")
    with tokens.lock():
        tokens.clear()
    assert tokens.load() is None


def test_the_credentials_file_is_private_atomic_and_keyed_by_url(tmp_path: Path) -> None:
    path = tmp_path / "config" / "userq" / "credentials.json"
    one, two = FileTokens(path, "http://one:3000/"), FileTokens(path, "http://two:3000")
    assert one.load() is None
    one.save(Tokens("a1", "r1", "alice"))
    two.save(Tokens("a2", "r2", "bob"))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert one.load() == Tokens("a1", "r1", "alice")
    assert FileTokens(path, "http://two:3000/").load() == Tokens("a2", "r2", "bob")
    one.clear()
    assert one.load() is None
    assert two.load() == Tokens("a2", "r2", "bob")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with one.lock():
        pass
    # nothing half-written is left next to it
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.json", "credentials.json.lock"]


def test_an_entry_without_tokens_is_no_login(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text('{"version": 1, "logins": {"http://one": {"username": "alice"}, "http://two": "junk"}}')
    assert FileTokens(path, "http://one").load() is None
    assert FileTokens(path, "http://two").load() is None
    path.write_text("[]")
    assert FileTokens(path, "http://one").load() is None


def test_an_unreadable_credentials_file_is_an_error_not_a_logout(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{not json")
    with pytest.raises(CredentialsError, match="unreadable credentials file"):
        FileTokens(path, "http://one").load()
    assert path.read_text() == "{not json"


def test_a_failed_write_is_a_credentials_error_and_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "credentials.json"
    tokens = FileTokens(path, "http://one")
    tokens.save(Tokens("a1", "r1"))

    def disk_full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(CredentialsError, match=r"cannot write the credentials file .* No space left"):
        tokens.save(Tokens("a2", "r2"))
    assert tokens.load() == Tokens("a1", "r1")
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]  # the new file is gone


def test_a_place_the_file_cannot_be_is_a_credentials_error(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "config"
    not_a_directory.write_text("")
    tokens = FileTokens(not_a_directory / "credentials.json", "http://one")
    with pytest.raises(CredentialsError, match="unreadable credentials file"):
        tokens.load()
    with pytest.raises(CredentialsError, match="cannot lock the credentials file"), tokens.lock():
        pass


def test_the_file_lock_lets_one_holder_at_a_time_in_across_stores(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    inside, most = [0], [0]
    start = threading.Barrier(8)

    def hold() -> None:
        store = FileTokens(path, "http://one")  # one per "process", as each command has its own
        start.wait()
        for _ in range(50):
            with store.lock():
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                store.save(Tokens("a", "r"))  # some work while holding it
                inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most == [1]
