"""Pseudonymised customer ids: a keyed hash (BLAKE2b with a secret key) where an id is needed to join
but not to act on (the prediction log and the records it keeps; the suppression list of forgotten
customers). Without the key a pseudonym cannot be tied back to a customer, and nobody can make one.

Keys form a ring (``CHURN_ID_HASH_KEYS``, comma-separated, a secret): the first key makes new
pseudonyms, every key still matches (joins of the prediction log with outcomes, ``forget``). Rotate
by putting a new key first; drop an old key only once nothing hashed under it needs matching (the
prediction log rows expire after ``CHURN_KEEP_PREDICTION_LOG_DAYS``). A pseudonym names its key by a
short fingerprint, ``p:<key fingerprint>:<32 hex digits>``, so readers know which key made it.

With no keys set, the embedded default generates one key, once, in ``CHURN_HOME/secrets/id_hash_key``
(mode 0600), shared by the Bento and the Dagster code location of that home.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

KEY_FILE = Path("secrets") / "id_hash_key"
PREFIX = "p:"


def _fingerprint(key: bytes) -> str:
    return hashlib.blake2b(key, digest_size=3, person=b"churnkey").hexdigest()


class Pseudonyms:
    """The key ring. ``of(id)``: the pseudonym under the first key; ``every(id)``: under each key."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = [k.encode() for k in (k.strip() for k in keys) if k]
        if not self.keys:
            raise ValueError("no id hash key: set CHURN_ID_HASH_KEYS (or let the embedded default make one)")
        if any(len(k) < 16 for k in self.keys):
            raise ValueError("an id hash key is shorter than 16 characters: use e.g. `openssl rand -hex 32`")
        self.heads = [f"{PREFIX}{_fingerprint(k)}:" for k in self.keys]
        self.hashers = [hashlib.blake2b(key=k[:64], digest_size=16, person=b"churnid") for k in self.keys]

    @classmethod
    def from_settings(cls, secret: str, home: Path) -> Pseudonyms:
        """The ring from the secret (comma-separated keys), else the home's generated key."""
        if secret.strip():
            return cls(secret.split(","))
        return cls([ensure_key_file(Path(home) / KEY_FILE)])

    def of(self, customer_id: object) -> str | None:
        return None if customer_id is None else self.under(0, [customer_id])[0]

    def every(self, customer_id: object) -> list[str]:
        return [self.under(i, [customer_id])[0] for i in range(len(self.keys))]

    def under(self, i: int, customer_ids: Iterable[object]) -> list[str]:
        """The pseudonym of each id under key ``i`` (the hot loop of the log writer, ingest and joins)."""
        h0, head = self.hashers[i], self.heads[i]
        out = []
        for cid in customer_ids:
            h = h0.copy()
            h.update(str(cid).encode())
            out.append(head + h.hexdigest())
        return out

    def many(self, customer_ids: Iterable[object]) -> list[str]:
        return self.under(0, customer_ids)

    def every_of_many(self, customer_ids: Iterable[object]) -> set[str]:
        ids = list(customer_ids)
        return {p for i in range(len(self.keys)) for p in self.under(i, ids)}


class IdHashing:
    """The ring, made on first use (not when the code location loads): the Dagster resource
    ``id_hashing``. A plain object, not a configurable resource, so the key never shows in the UI or
    in a run's stored configuration."""

    def __init__(self, secret: str, home: Path) -> None:
        self._secret, self.home, self._ring = secret, Path(home), None

    def ring(self) -> Pseudonyms:
        if self._ring is None:
            self._ring = Pseudonyms.from_settings(self._secret, self.home)
        return self._ring

    def __repr__(self) -> str:
        return f"IdHashing(home={str(self.home)!r}, keys={'secret' if self._secret.strip() else 'generated'})"


def serving_ring(secret: str, home: Path) -> Pseudonyms:
    """The Bento's ring. A service whose home is read-only (a container with no CHURN_ID_HASH_KEYS)
    cannot keep a generated key: it hashes with a key of its own process, with a warning, so the
    prediction log still holds no id in clear (its rows cannot be joined with outcomes, though)."""
    try:
        return Pseudonyms.from_settings(secret, home)
    except OSError as err:
        import logging

        logging.getLogger("churn_assets.privacy").warning(
            "no id hash key (CHURN_ID_HASH_KEYS unset and %s: %s): the prediction log pseudonymises customer ids "
            "with a key of this process only, so its rows cannot be joined with outcomes; set the secret",
            type(err).__name__, err)
        return Pseudonyms([secrets.token_hex(32)])


def is_pseudonym(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and value.count(":") == 2


def ensure_key_file(path: Path) -> str:
    """The key in ``path``, made once (32 random bytes, hex; file mode 0600). Two processes that race
    keep the first writer's key (O_EXCL)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    for _ in range(50):  # the other writer may not have written yet
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it and retry")
