"""Where the suite's time goes. A pytest plugin (loaded by pyproject's addopts) adds `--cpu-report PATH`:
one JSON line per test, its wall seconds and the CPU seconds of the test process and of the children it
waited for (a fixture counts where it is first set up). Run as a module, it sums them per module:

    PYTEST_ADDOPTS="--cpu-report /tmp/cpu.jsonl" make test
    python -m churn_assets_tests.cpu_report /tmp/cpu.jsonl
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import defaultdict

import pytest


def pytest_addoption(parser):
    parser.addoption("--cpu-report", metavar="PATH", default=None,
                     help="append one JSON line per test to PATH: its wall seconds and the CPU seconds of the "
                          "test process and the children it waited for (fixtures count where first set up); "
                          "`python -m churn_assets_tests.cpu_report PATH` sums them per module")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    path = item.config.getoption("--cpu-report")
    if not path:
        yield
        return

    def cpu() -> float:
        return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                     resource.getrusage(resource.RUSAGE_CHILDREN)))

    wall, used = time.perf_counter(), cpu()
    yield
    line = {"test": item.nodeid, "wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(cpu() - used, 2)}
    with open(path, "a") as f:  # one short write in append mode per test: workers do not interleave lines
        f.write(json.dumps(line) + "\n")


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
