"""A Bento's folder, tag and model labels for scripts, through the BentoML Python API.

    python scripts/bento_info.py churn_service:latest
    -> four lines: path, tag, model tag (label `model`), challenger tag (label `challenger`, may be empty)

Never parse `bentoml get` output: its console wraps at 80 columns, so a long store path came back
with newlines in it (`make container` from a deep checkout). Exit status 3: no such Bento.
"""

from __future__ import annotations

import sys

DEFAULT_MODEL = "churn-classifier:latest"


def bento_info(tag: str) -> tuple[str, str, str, str]:
    import bentoml

    bento = bentoml.get(tag)
    labels = bento.info.labels or {}
    return str(bento.path), str(bento.tag), labels.get("model") or DEFAULT_MODEL, labels.get("challenger") or ""


def main(argv: list[str]) -> int:
    import bentoml

    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        fields = bento_info(argv[0])
    except bentoml.exceptions.NotFound:
        return 3
    if any("\n" in f for f in fields):
        raise SystemExit(f"a newline in {fields!r}: cannot hand it to a shell line by line")
    sys.stdout.write("".join(f"{f}\n" for f in fields))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
