"""API keys: several at once (rotation), compared in constant time, never logged.

Keys come from ``CHURN_API_KEYS`` (comma-separated, a ``SecretStr``) and/or ``CHURN_API_KEY_FILE``
(one per line or comma-separated, e.g. a mounted Kubernetes or Compose secret, re-read when its modification time changes, at
most every ``reload_s`` seconds). No key configured = authentication off.

Each candidate is hashed (SHA-256) and compared with ``hmac.compare_digest`` against the hash of
every key, without an early exit: the time taken says nothing about which key, or how much of a
key, matched. Only hashes are kept in memory after loading.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from pathlib import Path

log = logging.getLogger("bentoml.service")


def _digest(key: str | bytes) -> bytes:
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).digest()


def parse_keys(text: str, sep: str | None = None) -> list[str]:
    """Keys separated by ``sep``, or (a file) by newlines or commas; ``#`` starts a comment line."""
    lines = [text] if sep else [line for line in text.splitlines() if not line.strip().startswith("#")]
    return [k.strip() for line in lines for k in line.split(sep or ",") if k.strip()]


class KeyRing:
    def __init__(self, keys_csv: str = "", key_file: Path | None = None, reload_s: float = 5.0) -> None:
        self._static = [_digest(k) for k in parse_keys(keys_csv, ",")]
        self._file, self._reload_s = key_file, reload_s
        self._file_digests: list[bytes] = []
        self._mtime: float | None = None
        self._checked = 0.0
        self._reload(force=True)

    @classmethod
    def from_settings(cls, settings) -> KeyRing:
        return cls(settings.api_keys.get_secret_value(), settings.api_key_file, settings.api_key_reload_s)

    @property
    def enabled(self) -> bool:
        return bool(self._static or self._file is not None)

    def __len__(self) -> int:
        return len(self._static) + len(self._file_digests)

    def __repr__(self) -> str:  # never the keys
        return f"KeyRing({len(self)} keys, file={'set' if self._file else 'none'})"

    def _reload(self, force: bool = False) -> None:
        if self._file is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < self._reload_s:
            return
        self._checked = now
        try:
            mtime = self._file.stat().st_mtime
            if force or mtime != self._mtime:
                self._file_digests = [_digest(k) for k in parse_keys(self._file.read_text())]
                self._mtime = mtime
                log.info("API keys loaded from %s: %d key(s)", self._file, len(self._file_digests))
        except OSError as err:  # a missing file means no file keys: fail closed, say why
            if self._file_digests or force:
                log.warning("API key file %s unreadable (%s): its keys are not accepted", self._file,
                            type(err).__name__)
            self._file_digests, self._mtime = [], None

    def check(self, candidate: str | bytes | None) -> bool:
        if not candidate:
            return False
        self._reload()
        d = _digest(candidate)
        ok = False
        for key in self._static + self._file_digests:
            ok |= hmac.compare_digest(d, key)
        return ok


def bearer(value: str | bytes | None) -> str | bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header value (scheme case-insensitive)."""
    if not value:
        return None
    if isinstance(value, bytes):
        scheme, _, token = value.partition(b" ")
        return token.strip() if scheme.lower() == b"bearer" else None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
