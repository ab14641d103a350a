"""Near the physical limit (issue 29): the Bento against servers that do nothing but the web stack.

Side by side on free loopback ports: the bare Starlette JSON echo under uvicorn and the bare
``grpc.aio`` echo servicer (bench/echo.py), the Bento with its lean routes (bento/lean.py, the
default) and the same Bento on BentoML's own routes (``CHURN_LEAN_ROUTES=false``). The runs alternate
in short slices, in a shuffled (seeded) order each round, with the in-process floor (1,000 records
per call, one core, no network) measured in every round too, and each figure is the median over the
rounds; each ratio is the median over rounds of the two setups' ratio within the round (the shared
host's speed drifts between rounds and cancels within one). The four ratios are issue 29's targets.
"""

from __future__ import annotations

import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.load_tools import h2load, start_bento, wrk
from churn_assets.local.services import free_port, stop, wait_http

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"HTTP /predict c=32 req/s vs bare echo": (0.40, ">="),
           "HTTP /predict c=32 p99 vs bare echo": (2.0, "<="),
           "gRPC Predict c=32 calls/s vs bare echo": (0.40, ">="),
           "/predict_batch 1,000 records rows/s vs in-process floor": (0.60, ">=")}
BATCH_CONNECTIONS = 4  # >= 2 per worker, so both workers get batches whatever the accept order


def _echo_servers(env: dict, tmp: Path) -> tuple[list[subprocess.Popen], int, int]:
    http_port, grpc_port = free_port(), free_port()
    http = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.echo:app", "--host", "127.0.0.1", "--port",
                             str(http_port), "--workers", "2", "--no-access-log", "--log-level", "warning"], cwd=ROOT,
                            env=env, stdout=open(tmp / "echo-http.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    grpc = subprocess.Popen([sys.executable, "-m", "bench.echo", "--grpc-port", str(grpc_port), "--processes", "2"],
                            cwd=ROOT, env=env, stdout=open(tmp / "echo-grpc.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_http(f"http://127.0.0.1:{http_port}/readyz", 60, http)
    deadline = time.time() + 60
    while True:  # both gRPC processes listen once the port accepts a connection
        try:
            socket.create_connection(("127.0.0.1", grpc_port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or grpc.poll() is not None:
                raise RuntimeError(f"the gRPC echo did not come up: {(tmp / 'echo-grpc.log').read_text()[-2000:]}")
            time.sleep(0.2)
    return [http, grpc], http_port, grpc_port


def run_limit(tag: str, env: dict, body1: str, frame1: bytes, batch_body: str, floor, seconds: int, rounds: int,
              tmp: Path) -> dict:
    """``floor()``: one in-process measurement of 1,000-record calls (a dict with ``rows_per_s``)."""
    procs: list[subprocess.Popen] = []
    try:
        echo_procs, echo_http, echo_grpc = _echo_servers(env, tmp)
        procs += echo_procs
        lean, lean_http, lean_grpc = start_bento(tag, {**env, "CHURN_LEAN_ROUTES": "true"}, tmp / "limit-lean.log")
        procs.append(lean)
        route, route_http, _ = start_bento(tag, {**env, "CHURN_LEAN_ROUTES": "false", "CHURN_GRPC_PORT": "0"},
                                           tmp / "limit-route.log")
        procs.append(route)
        slices = {
            ("HTTP /predict c=32", "bare echo"): lambda: wrk(f"http://127.0.0.1:{echo_http}/predict", body1, 32,
                                                             seconds, tmp, warmup=1),
            ("HTTP /predict c=32", "Bento, lean routes"): lambda: wrk(f"http://127.0.0.1:{lean_http}/predict", body1,
                                                                      32, seconds, tmp, warmup=1),
            ("HTTP /predict c=32", "Bento, BentoML routes"): lambda: wrk(f"http://127.0.0.1:{route_http}/predict",
                                                                         body1, 32, seconds, tmp, warmup=1),
            ("gRPC Predict c=32", "bare echo"): lambda: h2load(
                f"http://127.0.0.1:{echo_grpc}/churn.v1.ChurnPredictor/Predict", frame1, 32, seconds, tmp, warmup=1),
            ("gRPC Predict c=32", "Bento"): lambda: h2load(
                f"http://127.0.0.1:{lean_grpc}/churn.v1.ChurnPredictor/Predict", frame1, 32, seconds, tmp, warmup=1),
            ("/predict_batch 1,000 records", "Bento, lean routes"): lambda: _rows(wrk(
                f"http://127.0.0.1:{lean_http}/predict_batch", batch_body, BATCH_CONNECTIONS, seconds, tmp, warmup=1)),
            ("/predict_batch 1,000 records", "Bento, BentoML routes"): lambda: _rows(wrk(
                f"http://127.0.0.1:{route_http}/predict_batch", batch_body, BATCH_CONNECTIONS, seconds, tmp,
                warmup=1)),
            ("/predict_batch 1,000 records", "in-process floor"): floor,
        }
        runs: dict[tuple[str, str], list[dict]] = {k: [] for k in slices}
        order = list(slices)
        for i in range(rounds):
            random.Random(i).shuffle(order)
            for key in order:
                runs[key].append(slices[key]())
    finally:
        for proc in procs:
            stop(proc)
    rows = []
    for (call, setup), rs in runs.items():
        row = {"call": call, "setup": setup, "rps": statistics.median(r["rps"] for r in rs),
               "p50_ms": statistics.median(r["p50_ms"] for r in rs), "p99_ms": statistics.median(r["p99_ms"] for r in rs),
               "errors": sum(r.get("errors", 0) for r in rs), "runs_rps": [round(r["rps"]) for r in rs]}
        if "rows_per_s" in rs[0]:
            row["rows_per_s"] = statistics.median(r["rows_per_s"] for r in rs)
        row["runs"] = rs
        rows.append(row)
    out = ratios(rows)
    for row in rows:
        del row["runs"]
    return {"rows": rows, "ratios": out, "rounds": rounds, "seconds": seconds}


def _rows(r: dict) -> dict:
    return {**r, "rows_per_s": r["rps"] * 1000}


def ratios(rows: list[dict]) -> list[dict]:
    def pick(call, setup):
        return next((r for r in rows if r["call"] == call and r["setup"] == setup), None)

    lean, echo = pick("HTTP /predict c=32", "Bento, lean routes"), pick("HTTP /predict c=32", "bare echo")
    route = pick("HTTP /predict c=32", "Bento, BentoML routes")
    grpc_, gecho = pick("gRPC Predict c=32", "Bento"), pick("gRPC Predict c=32", "bare echo")
    batch, batch_route = pick("/predict_batch 1,000 records", "Bento, lean routes"), \
        pick("/predict_batch 1,000 records", "Bento, BentoML routes")
    floor = pick("/predict_batch 1,000 records", "in-process floor")
    def paired(a, b, key="rps"):
        """Median over rounds of a / b within each round (the slices of a round ran within a minute of
        each other, in shuffled order): the host's drift between rounds cancels."""
        return statistics.median(x[key] / y[key] for x, y in zip(a["runs"], b["runs"]))

    values = {
        "HTTP /predict c=32 req/s vs bare echo": paired(lean, echo),
        "HTTP /predict c=32 p99 vs bare echo": paired(lean, echo, "p99_ms"),
        "gRPC Predict c=32 calls/s vs bare echo": paired(grpc_, gecho),
        "/predict_batch 1,000 records rows/s vs in-process floor": paired(batch, floor, "rows_per_s"),
    }
    out = []
    for name, value in values.items():
        target, op = TARGETS[name]
        out.append({"ratio": name, "value": round(value, 3), "target": f"{op} {target}",
                    "met": value >= target if op == ">=" else value <= target})
    # Not targets: what the lean routes gain over BentoML's own, same run.
    out.append({"ratio": "HTTP /predict c=32 req/s: lean vs BentoML routes", "value": round(paired(lean, route), 3),
                "target": "-", "met": None})
    out.append({"ratio": "HTTP /predict c=32 req/s: BentoML routes vs bare echo",
                "value": round(paired(route, echo), 3), "target": "-", "met": None})
    out.append({"ratio": "/predict_batch rows/s: lean vs BentoML routes",
                "value": round(paired(batch, batch_route, "rows_per_s"), 3), "target": "-", "met": None})
    return out
