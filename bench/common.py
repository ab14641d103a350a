"""Shared benchmark helpers: a results table on stdout and JSON under bench/results/."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@functools.cache  # measured once per benchmark run: printed with the table and stored in the JSON
def cpu_calibration() -> float:
    """Seconds for a fixed pure-Python loop (best of 3): the host's single-core speed at run time.

    Shared 2-core VMs differ by up to ~3x between days; absolute req/s only compare across runs
    together with this figure (the ratios inside one run do not need it)."""
    import time

    best = float("inf")
    for _ in range(3):
        t0, s = time.perf_counter(), 0
        for i in range(2_000_000):
            s += i
        best = min(best, time.perf_counter() - t0)
    return round(best, 4)


def isolated_home() -> str:
    """The benchmark harness owns its process: every setting at its default under a fresh CHURN_HOME."""
    import tempfile

    from churn_assets.model.settings import known_variables

    home = tempfile.mkdtemp(prefix="bench-churn-")
    for k in known_variables():
        os.environ.pop(k, None)
    os.environ["CHURN_HOME"] = home
    os.environ["BENTOML_HOME"] = os.path.join(home, "bentoml")
    return home


def machine() -> dict:
    return {"cpus": os.cpu_count(), "cpu_calibration_s": cpu_calibration(), "python": platform.python_version(), "platform": platform.platform(),
            "load_avg_1m_at_start": os.getloadavg()[0],
            "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
                                  cwd=RESULTS.parent.parent).stdout.strip()}


def table(rows: list[dict], columns: list[str], title: str) -> str:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    line = " | ".join(c.ljust(widths[c]) for c in columns)
    out = [f"\n{title}", line, "-+-".join("-" * widths[c] for c in columns)]
    out += [" | ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(out)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, bool):
        return "PASS" if v else "FAIL"
    return "" if v is None else str(v)


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}.json"
    payload = {"benchmark": name, "at": stamp, "machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=1, default=str))
    (RESULTS / f"{name}-latest.json").write_text(path.read_text())
    return path
