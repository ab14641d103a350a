"""Performance budget of the internet-facing edge: the plain service vs the same Bento with API
keys and the prediction log on, measured in the same run. All servers run side by side and the
runs alternate in short slices, in a shuffled (seeded) order each round, and each setup's figure
is its median over the rounds: the shared host's load, which moves by tens of percent within a
minute, then hits every setup alike. Target: the secured service keeps >= 85% of the plain
throughput at c=32 over HTTP and gRPC, with p99 < 25 ms.
"""

from __future__ import annotations

import os
import random
import statistics
from pathlib import Path

from bench.load_tools import grpc_codes, h2load, start_bento, wrk
from churn_assets.local.services import stop

TARGET_RATIO, TARGET_P99_MS = 0.85, 25.0
KEY = "bench-" + os.urandom(12).hex()


def _metric(base: str, name: str, **labels) -> float:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def _paired(plain: list[float], other: list[float]) -> float:
    return statistics.median(o / p for p, o in zip(plain, other))


def run_budget(tag: str, env: dict, body: str, frame: bytes, seconds: int, rounds: int, tmp: Path) -> dict:
    setups = {
        "plain": {**env, "CHURN_PREDICTION_LOG": "false", "CHURN_API_KEYS": ""},
        # keys alone: not a target, it tells the edge's share of the cost from the log's
        "keys only": {**env, "CHURN_PREDICTION_LOG": "false", "CHURN_API_KEYS": f"{KEY},second-key"},
        "keys + prediction log": {**env, "CHURN_PREDICTION_LOG": "true", "CHURN_API_KEYS": f"{KEY},second-key",
                                  "CHURN_PREDICTION_LOG_URL": f"sqlite:///{tmp}/prediction_log.db"},
    }
    auth = {"plain": "", "keys only": f"Bearer {KEY}", "keys + prediction log": f"Bearer {KEY}"}
    servers = {}
    try:
        for i, (name, setup_env) in enumerate(setups.items()):
            servers[name] = start_bento(tag, setup_env, tmp / f"budget-{i}.log")
        runs: dict[tuple[str, str], list[dict]] = {}
        order = [(t, name) for t in ("HTTP", "gRPC") for name in servers]
        for i in range(rounds):
            random.Random(i).shuffle(order)
            for transport, name in order:
                _, http_port, grpc_port = servers[name]
                if transport == "HTTP":
                    r = wrk(f"http://127.0.0.1:{http_port}/predict", body, 32, seconds, tmp, auth[name], warmup=1)
                else:
                    r = h2load(f"http://127.0.0.1:{grpc_port}/churn.v1.ChurnPredictor/Predict", frame, 32,
                               seconds, tmp, auth[name], warmup=1)
                runs.setdefault((transport, name), []).append(r)
        secured = f"http://127.0.0.1:{servers['keys + prediction log'][1]}"
        logged = {o: _metric(secured, "churn_prediction_log_rows_total", outcome=o)
                  for o in ("written", "dropped", "failed")}
        codes = grpc_codes(secured + "/metrics")
    finally:
        for proc, _, _ in servers.values():
            stop(proc)
    rows, checks = [], {}
    for (transport, name), rs in sorted(runs.items(), key=lambda kv: (kv[0][0], list(setups).index(kv[0][1]))):
        rows.append({"setup": f"budget {transport} /predict c=32: {name}", "transport": transport, "service": name,
                     "concurrency": 32, "rps": statistics.median(r["rps"] for r in rs),
                     "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                     "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                     "errors": sum(r["errors"] for r in rs), "runs_rps": [round(r["rps"]) for r in rs]})
    ratios = {}
    for transport in ("HTTP", "gRPC"):
        plain, keys, sec = (next(r for r in rows if r["transport"] == transport and r["service"] == s)
                            for s in ("plain", "keys only", "keys + prediction log"))
        # Per round, secured / plain of that round (the slices of a round ran within a minute of each
        # other, in shuffled order), then the median over rounds: the host's drift between rounds
        # (2x within minutes on a shared VM) cancels, which a ratio of medians does not do.
        ratios[transport] = _paired(plain["runs_rps"], sec["runs_rps"])
        ratios[f"{transport} keys only"] = _paired(plain["runs_rps"], keys["runs_rps"])
        ratios[f"{transport} ratio of medians"] = sec["rps"] / plain["rps"]
        checks[f"{transport} keys+log >= {TARGET_RATIO:.0%} of plain req/s"] = ratios[transport] >= TARGET_RATIO
        checks[f"{transport} keys+log p99 < {TARGET_P99_MS:.0f} ms"] = sec["p99_ms"] < TARGET_P99_MS
    checks["keys+log zero errors"] = all(r["errors"] == 0 for r in rows if r["service"] != "plain") and \
        not any(v for k, v in codes.items() if k not in ("OK", "CANCELLED"))
    checks["prediction log wrote every prediction (none dropped or failed)"] = \
        logged["dropped"] == 0 and logged["failed"] == 0 and logged["written"] > 0
    return {"rows": rows, "ratios": ratios, "prediction_log_rows": logged, "grpc_codes_secured": codes,
            "checks": checks, "rounds": rounds}
