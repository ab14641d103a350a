"""Where the suite's time goes: sums `pytest --cpu-report PATH` lines per module, most CPU first.

    PYTEST_ADDOPTS="--cpu-report /tmp/cpu.jsonl" make test
    python -m churn_assets_tests.cpu_report /tmp/cpu.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def per_module(lines: list[dict]) -> list[tuple[str, int, float, float]]:
    sums: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0])
    for line in lines:
        row = sums[line["test"].split("::")[0]]
        row[0] += 1
        row[1] += line["wall_s"]
        row[2] += line["cpu_s"]
    return sorted(((m, n, w, c) for m, (n, w, c) in sums.items()), key=lambda r: -r[3])


def main(path: str) -> None:
    with open(path) as f:
        rows = per_module([json.loads(x) for x in f if x.strip()])
    total = sum(r[3] for r in rows) or 1.0
    print(f"{'module':<58} {'tests':>5} {'wall s':>8} {'CPU s':>8} {'CPU %':>6}")
    for module, n, wall, cpu in rows:
        print(f"{module:<58} {n:>5} {wall:>8.0f} {cpu:>8.0f} {100 * cpu / total:>6.1f}")
    print(f"{'total':<58} {sum(r[1] for r in rows):>5} {sum(r[2] for r in rows):>8.0f} {total:>8.0f}")


if __name__ == "__main__":
    main(sys.argv[1])
