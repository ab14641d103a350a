"""The Bento image's figures as `make container` measured them (bench/results/container.json), for
`make bench-serve`'s report. The image itself is built and checked by `make test-container`."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "container.json"
MAX_IMAGE_MB = 600  # issue 14: the default bentofile's image was 1.26-1.33 GB


def container_row(path: Path = RESULTS) -> str:
    if not path.is_file():
        return "container image: not built yet (`make container` writes bench/results/container.json)"
    d = json.loads(path.read_text())
    verdict = "ok" if d["size_mb"] <= MAX_IMAGE_MB else "OVER TARGET"
    return (f"container image {d['tag']} ({d['bento']}): image size: {d['size_mb']} MB "
            f"(target <= {MAX_IMAGE_MB} MB: {verdict}), bentoml containerize {d['build_s']} s, "
            f"measured {d['measured_at']}")
