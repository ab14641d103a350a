"""`make bench-serve`: the Bento over HTTP and gRPC vs the seed's naive FastAPI baseline vs the
in-process floor, on the same model, at concurrency 1, 8 and 32; plus 1,000-record batches.

Loopback only, every load run bounded (default 10 s). Load generators: wrk (HTTP) and h2load
(gRPC; per-request latencies from its --log-file), both C programs, so the Python server is not
measured against a Python client eating the same two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import cpu_calibration, table, write
from bench.container import container_row
from bench.load_tools import grpc_codes, grpc_frame, h2load, wrk
from churn_assets.local.services import free_port, stop, wait_http
from churn_assets.model.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"http_c32_rps": 2000, "http_c32_p99_ms": 100, "http_vs_naive": 4.0, "grpc_c32_rps": 3000,
           "grpc_c32_p99_ms": 25, "http_c1_p50_ms": 5, "batch_rows_per_s": 100_000}
def in_process(pipeline, record: dict, customer_model, n_rows: int, seconds: float = 3.0) -> dict:
    from churn_assets.model.scorer import FastScorer

    scorer = FastScorer(pipeline)
    rows = [customer_model.model_validate(record).__dict__] * n_rows
    lat, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        scorer.predict_records(rows)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    n = len(lat)
    return {"rps": n / sum(lat) * 1000, "rows_per_s": n * n_rows / sum(lat) * 1000, "p50_ms": lat[n // 2],
            "p99_ms": lat[min(n - 1, int(n * 0.99))], "requests": n, "errors": 0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bento", default="churn_service:latest")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--sections", default="main,limit,budget,faults,ab,explain",
                   help="main: the Bento vs naive vs in-process; limit: the Bento vs bare echo servers and the "
                        "in-process floor (issue 29); budget: plain vs keys + prediction log; "
                        "faults: a worker killed under load; ab: single vs shadow mode; explain: /explain "
                        "latency and rows/s")
    p.add_argument("--ab-rounds", type=int, default=6)
    p.add_argument("--budget-rounds", type=int, default=6)
    p.add_argument("--budget-seconds", type=int, default=4)
    p.add_argument("--fault-seconds", type=int, default=60)
    p.add_argument("--limit-rounds", type=int, default=5)
    p.add_argument("--limit-seconds", type=int, default=4)
    args = p.parse_args(argv)
    sections = set(args.sections.split(","))
    import bentoml

    from bento import churn_pb2
    from bento.client import to_struct
    from churn_assets.model.contract import DataContract

    try:
        bento = bentoml.get(args.bento)
    except bentoml.exceptions.NotFound:
        print(f"no Bento {args.bento} in {Settings().bentoml_home}: run `make demo` first")
        return 1
    model = bentoml.models.get(bento.info.labels.get("model") or bento.info.all_models[0].tag)  # the champion
    meta = model.info.metadata
    record = json.loads(meta["example"])
    contract = DataContract.from_json(meta["contract"])
    pipeline = bentoml.sklearn.load_model(model)
    conc = [int(c) for c in args.concurrency.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {**{k: v for k, v in os.environ.items() if k not in ("CHURN_API_KEYS", "CHURN_API_KEY_FILE")},
           "OMP_NUM_THREADS": "1", "BENTOML_DO_NOT_TRACK": "true", "CHURN_PREDICTION_LOG": "false"}  # plain
    body1 = json.dumps({"customer": record})
    frame1 = grpc_frame(churn_pb2.PredictRequest(customer=to_struct(record)))
    if "main" in sections:
        _main_section(args, bento, model, meta, record, contract, pipeline, conc, tmp, env)
    edge_results = {}
    if "limit" in sections:
        _limit_section(args, bento, pipeline, record, contract, body1, frame1, tmp, env)
    if "budget" in sections:
        from bench.serving_budget import run_budget

        budget = edge_results["budget"] = run_budget(str(bento.tag), env, body1, frame1, args.budget_seconds,
                                                     args.budget_rounds, tmp)
        print(table(budget["rows"], ["setup", "rps", "p50_ms", "p99_ms", "errors", "runs_rps"],
                    f"Performance budget: plain vs API keys + prediction log, c=32, medians of {args.budget_rounds} "
                    f"shuffled rounds of {args.budget_seconds}s slices"))
        print("secured / plain req/s: " + "   ".join(f"{t} {r:.1%}" for t, r in budget["ratios"].items()) +
              f"   prediction-log rows: {budget['prediction_log_rows']}")
        print(table([{"target": k, "result": v} for k, v in budget["checks"].items()], ["target", "result"],
                    "Budget targets"))
    if "faults" in sections:
        from bench.serving_faults import run_faults

        faults = edge_results["faults"] = run_faults(str(bento.tag), env, body1, record, tmp,
                                                     seconds=args.fault_seconds, kill_at=args.fault_seconds // 3)
        cols = ["transport", "requests", "failed", "failed_share", "failure_kinds", "rps_before_kill",
                "throughput_back_s", "readyz_back_s", "worker_respawned_s", "survivor_rss_mb_start",
                "survivor_rss_mb_end", "survivor_rss_growth"]
        print(table(faults["rows"], cols, f"Faults: {args.fault_seconds}s at c=64 with keys + prediction log, one "
                    f"worker SIGKILLed at {args.fault_seconds // 3}s"))
        print(table([{"target": k, "result": v} for k, v in faults["checks"].items()], ["target", "result"],
                    "Fault targets"))
    if sections & {"ab", "explain"}:
        _ab_sections(args, sections, bento, env, body1, frame1, record, contract, tmp)
    if edge_results:
        edge_results["host_speed_s"] = cpu_calibration()
        print(f"\nwritten {write('serving_edge', {'bento': str(bento.tag), **edge_results})}")
    return 0


def _ab_sections(args, sections, bento, env, body1, frame1, record, contract, tmp) -> None:
    from bench.serving_ab import run_ab, run_explain

    out: dict = {}
    if "ab" in sections:
        ab = out["ab"] = run_ab(bento, env, body1, frame1, args.budget_seconds, args.ab_rounds, tmp)
        print(table(ab["rows"], ["setup", "rps", "p50_ms", "p99_ms", "errors", "runs_rps"],
                    f"Champion/challenger: single vs shadow mode (prediction log on), c=32, medians of "
                    f"{args.ab_rounds} shuffled rounds of {args.budget_seconds}s slices; {ab['challenger']}"))
        print("shadow / single req/s: " + "   ".join(f"{t} {r:.1%}" for t, r in ab["ratios"].items()))
    if "explain" in sections:
        ex = out["explain"] = run_explain(bento, env, record, contract.id_column, args.seconds, tmp)
        print(table(ex["rows"], ["setup", "concurrency", "rps", "p50_ms", "p99_ms", "errors", "rows_per_s"],
                    "Explanations over HTTP and gRPC (top 3 contributions per raw column)"))
    checks = {k: v for part in out.values() for k, v in part["checks"].items()}
    print(table([{"target": k, "result": v} for k, v in checks.items()], ["target", "result"], "A/B and explain targets"))
    out["host_speed_s"] = cpu_calibration()
    print(f"\nwritten {write('serving_ab', {'bento': str(bento.tag), **out})}")


def _limit_section(args, bento, pipeline, record, contract, body1, frame1, tmp, env) -> None:
    from bench.serving_limit import run_limit
    from churn_assets.model.request_schema import customer_model

    Customer = customer_model(contract)
    batch = json.dumps({"customers": [dict(record, **{contract.id_column: f"B{i}"}) for i in range(1000)]})
    result = run_limit(str(bento.tag), env, body1, frame1, batch,
                       lambda: in_process(pipeline, record, Customer, 1000, args.limit_seconds),
                       args.limit_seconds, args.limit_rounds, tmp)
    print(table(result["rows"], ["call", "setup", "rps", "p50_ms", "p99_ms", "errors", "rows_per_s", "runs_rps"],
                f"Near the physical limit: side by side, medians of {args.limit_rounds} shuffled rounds of "
                f"{args.limit_seconds}s slices"))
    print(table(result["ratios"], ["ratio", "value", "target", "met"],
                "Near the physical limit (issue 29): same-run ratios"))
    host = cpu_calibration()
    print(f"host speed: {host:.3f} s per 2M-step Python loop")
    print(f"\nwritten {write('serving_limit', {'bento': str(bento.tag), **result, 'host_speed_s': host})}")


def _main_section(args, bento, model, meta, record, contract, pipeline, conc, tmp, env) -> None:
    import joblib

    from bento import churn_pb2
    from bento.client import to_struct
    from churn_assets.model.request_schema import customer_model

    rows: list[dict] = []

    # In-process floor (same scorer the Bento runs).
    Customer = customer_model(contract)
    for n in (1, 32, 1000):
        r = in_process(pipeline, record, Customer, n)
        rows.append({"setup": f"in-process floor, {n} record(s)/call", "concurrency": 1, **r})

    http_port, grpc_port, naive_port = free_port(), free_port(), free_port()
    bento_proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", str(bento.tag), "--host", "127.0.0.1",
                                   "--port", str(http_port)], env={**env, "CHURN_GRPC_PORT": str(grpc_port)},
                                  stdout=open(tmp / "bento.log", "w"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
    joblib.dump(pipeline, tmp / "model.joblib")
    (tmp / "contract.json").write_text(meta["contract"])
    naive_proc = None
    try:
        wait_http(f"http://127.0.0.1:{http_port}/readyz", 120, bento_proc)
        body1 = json.dumps({"customer": record})
        frame1 = grpc_frame(churn_pb2.PredictRequest(customer=to_struct(record)))
        for c in conc:
            rows.append({"setup": "Bento HTTP /predict (adaptive batching)", "concurrency": c,
                         **wrk(f"http://127.0.0.1:{http_port}/predict", body1, c, args.seconds, tmp)})
        before = grpc_codes(f"http://127.0.0.1:{http_port}/metrics")
        for c in conc:
            r = h2load(f"http://127.0.0.1:{grpc_port}/churn.v1.ChurnPredictor/Predict", frame1, c, args.seconds, tmp)
            rows.append({"setup": "Bento gRPC Predict (same batcher)", "concurrency": c, **r})
        after = grpc_codes(f"http://127.0.0.1:{http_port}/metrics")
        codes = {k: after[k] - before.get(k, 0) for k in after}
        # Calls still in flight when h2load stops are cancelled by the client: counted, not failures.
        grpc_failed = sum(v for k, v in codes.items() if k not in ("OK", "CANCELLED"))
        batch = [dict(record, **{contract.id_column: f"B{i}"}) for i in range(1000)]
        for c in (2, 4, 8):  # several connections so both workers get batches
            r = wrk(f"http://127.0.0.1:{http_port}/predict_batch", json.dumps({"customers": batch}), c,
                    args.seconds, tmp)
            rows.append({"setup": "Bento HTTP /predict_batch, 1,000 records", "concurrency": c, **r,
                         "rows_per_s": r["rps"] * 1000})
        frame_b = grpc_frame(churn_pb2.PredictBatchRequest(customers=[to_struct(b) for b in batch]))
        for c in (2, 8):
            r = h2load(f"http://127.0.0.1:{grpc_port}/churn.v1.ChurnPredictor/PredictBatch", frame_b, c,
                       args.seconds, tmp)
            rows.append({"setup": "Bento gRPC PredictBatch, 1,000 records", "concurrency": c, **r,
                         "rows_per_s": r["rps"] * 1000})
    finally:
        stop(bento_proc)
    try:
        naive_proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.naive_api:app", "--host", "127.0.0.1", "--port", str(naive_port),
             "--workers", "2", "--no-access-log", "--log-level", "warning"], cwd=ROOT,
            env={**env, "CHURN_NAIVE_MODEL": str(tmp / "model.joblib"), "CHURN_NAIVE_CONTRACT": str(tmp / "contract.json"),
                 "CHURN_NAIVE_THRESHOLD": str(meta["threshold"])},
            stdout=open(tmp / "naive.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"http://127.0.0.1:{naive_port}/docs", 120, naive_proc)
        for c in conc:
            rows.append({"setup": "naive FastAPI + uvicorn (2 workers), predict per request", "concurrency": c,
                         **wrk(f"http://127.0.0.1:{naive_port}/predict", body1, c, args.seconds, tmp)})
    finally:
        if naive_proc:
            stop(naive_proc)

    def pick(setup, c):
        return next((r for r in rows if r["setup"].startswith(setup) and r["concurrency"] == c), None)

    http32, grpc32, naive32, http1 = pick("Bento HTTP /predict", 32), pick("Bento gRPC Predict", 32), \
        pick("naive", 32), pick("Bento HTTP /predict", 1)
    best_batch = max(r.get("rows_per_s", 0) for r in rows if "1,000 records" in r["setup"])
    checks = {}
    if http32 and naive32:
        checks = {
            "HTTP c=32 >= 2,000 req/s": http32["rps"] >= TARGETS["http_c32_rps"],
            "HTTP c=32 p99 < 100 ms": http32["p99_ms"] < TARGETS["http_c32_p99_ms"],
            "HTTP c=32 >= 4x naive req/s": http32["rps"] >= TARGETS["http_vs_naive"] * naive32["rps"],
            "HTTP c=32 zero errors": http32["errors"] == 0,
            "gRPC c=32 >= 3,000 req/s": grpc32["rps"] >= TARGETS["grpc_c32_rps"],
            "gRPC c=32 p99 < 25 ms": grpc32["p99_ms"] < TARGETS["grpc_c32_p99_ms"],
            "gRPC zero errors (server-side codes)": grpc_failed == 0 and grpc32["errors"] == 0,
            "HTTP c=1 p50 < 5 ms": http1["p50_ms"] < TARGETS["http_c1_p50_ms"],
            "1,000-record batches >= 100,000 rows/s": best_batch >= TARGETS["batch_rows_per_s"],
        }
    ratio = http32["rps"] / naive32["rps"] if http32 and naive32 else None
    print(table(rows, ["setup", "concurrency", "rps", "p50_ms", "p99_ms", "errors", "rows_per_s"],
                f"Serving benchmark: {bento.tag} ({meta['registry_name']} v{meta['registry_version']}, "
                f"{type(pipeline[-1]).__name__}), {args.seconds}s per run, loopback"))
    print(f"\nHTTP/naive at c=32: {ratio:.1f}x   best 1,000-record batch: {best_batch:,.0f} rows/s   "
          f"(seed's figure: 125 predictions/s)")
    print(f"gRPC status codes counted by the server: {codes} (CANCELLED: in flight when the load generator stopped)")
    print(f"host speed: {cpu_calibration():.3f} s per 2M-step Python loop (absolute req/s scale with it)")
    print(container_row())
    print(table([{"target": k, "result": v} for k, v in checks.items()], ["target", "result"], "Targets"))
    path = write("serving", {"bento": str(bento.tag), "model": type(pipeline[-1]).__name__, "rows": rows,
                             "http_vs_naive_c32": ratio, "best_batch_rows_per_s": best_batch,
                             "grpc_server_side_errors": grpc_failed,
                             "grpc_server_side_codes": codes, "targets": checks})
    print(f"\nwritten {path}")


if __name__ == "__main__":
    sys.exit(main())
