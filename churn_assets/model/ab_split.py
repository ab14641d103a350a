"""The A/B split of live traffic: which arm (champion or challenger) answers a customer.

Deterministic and stateless: the first 8 bytes of ``blake2b(customer_id)`` read as a big-endian
integer and divided by 2**64 give the customer a fixed point ``u`` in [0, 1); ``u < share`` means
challenger. The same customer therefore gets the same arm on every worker, after every restart and
over HTTP and gRPC, and raising the share only moves customers from champion to challenger (never
back). The experiment readout can recompute any customer's arm from its id alone.
"""

from __future__ import annotations

import hashlib

CHAMPION, CHALLENGER = "champion", "challenger"
_SCALE = float(2**64)


def bucket(customer_id: str) -> float:
    """The customer's fixed point in [0, 1)."""
    digest = hashlib.blake2b(customer_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def arm_of(customer_id: str, share: float) -> str:
    """``challenger`` for a ``share`` of customers (by id), else ``champion``."""
    return CHALLENGER if bucket(customer_id) < share else CHAMPION
