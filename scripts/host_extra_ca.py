"""Print the CA certificates this host trusts beyond Debian's ca-certificates set (PEM).

These are the certificates an administrator added (update-ca-certificates from
/usr/local/share/ca-certificates, or appended to the bundle), e.g. a TLS-intercepting proxy's CA.
A container build trusts only its image's store, so scripts/container_build.sh layers these in.
Prints nothing when the host trusts no extra certificate.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DISTRO_CERTS = Path("/usr/share/ca-certificates")
PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s+(.*?)\s+-----END CERTIFICATE-----", re.DOTALL)


def pem_bodies(text: str) -> list[str]:
    return ["".join(m.group(1).split()) for m in PEM.finditer(text)]


def extra_certificates(bundle: Path = HOST_BUNDLE, distro: Path = DISTRO_CERTS) -> list[str]:
    if not bundle.is_file():
        return []
    known = {body for crt in distro.rglob("*.crt") for body in pem_bodies(crt.read_text(errors="replace"))}
    return [body for body in pem_bodies(bundle.read_text(errors="replace")) if body not in known]


def to_pem(body: str) -> str:
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


if __name__ == "__main__":
    sys.stdout.write("".join(to_pem(b) for b in extra_certificates()))
