"""Where a login's tokens live: in memory for one process, or in the credentials file the command uses."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from userq.errors import CredentialsError


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    username: str | None = None


class TokenStore(Protocol):
    """Keeps one login's tokens. `lock` serialises refreshes: a refresh token works once, and presenting a
    used one ends the session, so two holders of the same tokens must not both refresh."""

    def load(self) -> Tokens | None: ...
    def save(self, tokens: Tokens) -> None: ...
    def clear(self) -> None: ...
    def lock(self) -> contextlib.AbstractContextManager[None]: ...


class MemoryTokens:
    """Tokens for one process's life."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()

    def load(self) -> Tokens | None:
        return self._tokens

    def save(self, tokens: Tokens) -> None:
        self._tokens = tokens

    def clear(self) -> None:
        self._tokens = None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._lock:
            yield


class FileTokens:
    """Tokens in a JSON file, one login per API URL, private to its owner.

    The file is written atomically (a new file in the same directory, mode 0600, then renamed over the old)
    and a directory it needs is created with mode 0700. Processes sharing the file refresh one at a time,
    under an advisory lock (`<file>.lock`), and a process that finds the tokens already renewed by another
    uses those instead of spending the used refresh token. A file that cannot be read or written raises
    `CredentialsError`.
    """

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url.rstrip("/")
        self._thread_lock = threading.Lock()

    def load(self) -> Tokens | None:
        entry = self._read().get(self.url)
        if not isinstance(entry, dict):
            return None
        try:
            return Tokens(entry["access_token"], entry["refresh_token"], entry.get("username"))
        except KeyError:
            return None

    def save(self, tokens: Tokens) -> None:
        logins = self._read()
        logins[self.url] = {
            "username": tokens.username,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
        }
        self._write(logins)

    def clear(self) -> None:
        logins = self._read()
        if logins.pop(self.url, None) is not None:
            self._write(logins)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self._mkdir()
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CredentialsError(f"cannot lock the credentials file {self.path}: {exc}") from exc
        try:
            with self._thread_lock:  # flock does not exclude the threads of one process sharing this object
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
        finally:
            os.close(fd)  # releases the flock

    def _read(self) -> dict[str, Any]:
        try:
            content = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CredentialsError(f"unreadable credentials file {self.path}: {exc}") from exc
        logins = content.get("logins") if isinstance(content, dict) else None
        return logins if isinstance(logins, dict) else {}

    def _write(self, logins: dict[str, Any]) -> None:
        try:
            self._mkdir()
            self._replace(json.dumps({"version": 1, "logins": logins}, indent=2))
        except OSError as exc:
            raise CredentialsError(f"cannot write the credentials file {self.path}: {exc}") from exc

    def _replace(self, text: str) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp made it 0600
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def _mkdir(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
