"""`make bench-serve` sections `ab` and `explain`: the cost of shadow mode and of explanations.

* ab: the same Bento served twice side by side, CHURN_SERVING_MODE=single and =shadow, both with
  the prediction log on (shadow writes two rows per prediction: that is its real cost). Runs
  alternate in short slices in a shuffled (seeded) order each round and each figure is the median
  over rounds, as in serving_budget.py, so the shared host's load hits both alike. Target: shadow
  keeps >= 70% of single-mode req/s at c=32 (HTTP and gRPC). When the Bento packs no challenger
  (the registry's challenger was the champion when it was built), the shadow server gets the
  champion's own model as its challenger (CHURN_BENTO_CHALLENGER): the same compute, said so.
* explain: /explain single-record latency at c=1 (HTTP, and gRPC Explain) and explained rows/s on
  1,000-record calls. Target: >= 2,000 explained rows/s.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

from bench.load_tools import grpc_frame, h2load, start_bento, wrk
from churn_assets.local.services import stop

TARGET_SHADOW_RATIO, TARGET_EXPLAIN_ROWS_S = 0.70, 2000


def run_ab(bento, env: dict, body: str, frame: bytes, seconds: int, rounds: int, tmp: Path) -> dict:
    labels = bento.info.labels
    challenger = labels.get("challenger") or ""
    shadow_env = {**env, "CHURN_SERVING_MODE": "shadow"}
    note = f"challenger {challenger}"
    if not challenger:
        shadow_env["CHURN_BENTO_CHALLENGER"] = labels["model"]
        note = "the Bento packs no challenger: the champion's model scores twice (same compute)"
    setups = {"single": {**env, "CHURN_SERVING_MODE": "single"}, "shadow": shadow_env}
    servers, runs = {}, {}
    try:
        for name, setup_env in setups.items():
            log_env = {"CHURN_PREDICTION_LOG": "true", "CHURN_PREDICTION_LOG_URL": f"sqlite:///{tmp}/ab-{name}.db"}
            servers[name] = start_bento(str(bento.tag), {**setup_env, **log_env}, tmp / f"ab-{name}.log")
        order = [(t, name) for t in ("HTTP", "gRPC") for name in servers]
        for i in range(rounds):
            random.Random(100 + i).shuffle(order)
            for transport, name in order:
                _, http_port, grpc_port = servers[name]
                r = wrk(f"http://127.0.0.1:{http_port}/predict", body, 32, seconds, tmp, warmup=1) \
                    if transport == "HTTP" else \
                    h2load(f"http://127.0.0.1:{grpc_port}/churn.v1.ChurnPredictor/Predict", frame, 32, seconds, tmp,
                           warmup=1)
                runs.setdefault((transport, name), []).append(r)
    finally:
        for proc, _, _ in servers.values():
            stop(proc)
    rows = [{"setup": f"{transport} /predict c=32: {name}", "transport": transport, "mode": name, "concurrency": 32,
             "rps": statistics.median(r["rps"] for r in rs), "p50_ms": statistics.median(r["p50_ms"] for r in rs),
             "p99_ms": statistics.median(r["p99_ms"] for r in rs), "errors": sum(r["errors"] for r in rs),
             "runs_rps": [round(r["rps"]) for r in rs]} for (transport, name), rs in sorted(runs.items())]
    ratios, checks = {}, {}
    for transport in ("HTTP", "gRPC"):
        single, shadow = (next(r for r in rows if r["transport"] == transport and r["mode"] == m)
                          for m in ("single", "shadow"))
        ratios[transport] = shadow["rps"] / single["rps"]
        checks[f"{transport} shadow >= {TARGET_SHADOW_RATIO:.0%} of single req/s"] = \
            ratios[transport] >= TARGET_SHADOW_RATIO
    checks["shadow zero errors"] = all(r["errors"] == 0 for r in rows)
    return {"rows": rows, "ratios": ratios, "checks": checks, "challenger": note, "rounds": rounds}


def run_explain(bento, env: dict, record: dict, id_column: str, seconds: int, tmp: Path) -> dict:
    from bento import churn_pb2
    from bento.client import to_struct

    one = json.dumps({"customers": [record], "k": 3})
    batch = [dict(record, **{id_column: f"X{i}"}) for i in range(1000)]
    proc, http_port, grpc_port = start_bento(str(bento.tag), {**env, "CHURN_PREDICTION_LOG": "false"},
                                             tmp / "explain.log")
    rows = []
    try:
        url = f"http://127.0.0.1:{http_port}/explain"
        rows.append({"setup": "HTTP /explain, 1 record, top 3", "concurrency": 1, **wrk(url, one, 1, seconds, tmp)})
        frame = grpc_frame(churn_pb2.ExplainRequest(customers=[to_struct(record)], k=3))
        rows.append({"setup": "gRPC Explain, 1 record, top 3", "concurrency": 1,
                     **h2load(f"http://127.0.0.1:{grpc_port}/churn.v1.ChurnPredictor/Explain", frame, 1, seconds,
                              tmp)})
        for c in (1, 2):  # 2 connections: both workers explain
            r = wrk(url, json.dumps({"customers": batch, "k": 3}), c, seconds, tmp)
            rows.append({"setup": "HTTP /explain, 1,000 records, top 3", "concurrency": c, **r,
                         "rows_per_s": r["rps"] * 1000})
    finally:
        stop(proc)
    best = max(r.get("rows_per_s", 0) for r in rows)
    checks = {f"explained rows/s >= {TARGET_EXPLAIN_ROWS_S:,}": best >= TARGET_EXPLAIN_ROWS_S,
              "explain zero errors": all(r["errors"] == 0 for r in rows)}
    return {"rows": rows, "best_rows_per_s": best, "checks": checks}
