"""`make bench` scoring rows: a daily scoring partition of 1M and 10M synthetic customers.

Each size runs in its own child process under a fresh CHURN_HOME: a champion is trained first
(100k customers, histogram boosting, not timed), then the real `churn_scoring` job materializes one
partition (scoring_batch -> churn_predictions -> drift_report) on the SQLite predictions table, or
on PostgreSQL with ``--predictions-url``; with ``--outcomes`` (as ``make bench`` runs it) the day's
outcomes then arrive and ``churn_outcomes`` (labelled_outcomes -> model_performance) runs on the
same partition. A sampler sums RSS over the process every 0.1 s and attributes it to the running
step. The same run measures the baselines on 200k-row chunks of that champion: scikit-learn's
``predict_proba`` against the compiled ensemble, and the two halves of churn_predictions alone
(scoring with no write, the write with no scoring).

    python -m bench.scoring_scale --rows 1000000      # one size, prints JSON
    python -m bench.training --only scoring           # the 1M and 10M rows of `make bench`
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench.scale import Sampler, _kernel_peak

DAY = "2025-07-01"
TARGET_ROWS_S, TARGET_GB, TARGET_DRIFT_S = 300_000, 2.0, 15.0  # issue 14, point 4
SCORING_STEPS = ("scoring_batch", "churn_predictions", "drift_report")


def _train(instance) -> None:
    from churn_assets.local import runs

    cfg = runs.training(10, rows=100_000)
    cfg["ops"]["tuned_model"]["config"]["families"] = ["hist_gradient_boosting"]
    res = runs.load_defs().resolve_job_def(runs.TRAINING_JOB).execute_in_process(instance=instance, run_config=cfg)
    assert res.success


def _baseline(url: str, rows: int = 200_000, chunks: int = 3) -> dict:
    """Same-run baselines on chunks of the champion: scikit-learn against the compiled ensemble, and
    the two halves of ``churn_predictions`` alone: scoring (features, encoding, model, result frame)
    with no write, and the write of scored chunks with no scoring (rolled back at the end)."""
    import numpy as np
    import pandas as pd

    from churn_assets.core.data.batches import BatchSettings, synthetic_batch
    from churn_assets.core.registry.champion import load_champion
    from churn_assets.core.scoring.batch import BatchScorer
    from churn_assets.core.scoring.predictions_table import PartitionWriter
    from churn_assets.core.training import tracking
    from churn_assets.local import runs
    from churn_assets.model.scorer import risk_bands

    mlflow = runs.load_defs().resources["mlflow"]
    champion = load_champion(tracking.client(mlflow.tracking_uri), mlflow.model_name)
    frame = synthetic_batch(DAY, BatchSettings(rows=rows, chunk_rows=rows))
    X = champion.pipeline[:-1].transform(frame)
    scorer = BatchScorer(champion.pipeline)
    scorer.compiled.predict_proba(X[:100])  # numba compiles (or loads its cache) once
    out = {}
    for name, f in (("sklearn", champion.pipeline[-1].predict_proba), ("compiled", scorer.compiled.predict_proba)):
        t0 = time.perf_counter()
        p = f(X)
        out[name] = rows / (time.perf_counter() - t0)
        out[f"{name}_p"] = p
    equal = bool((out.pop("sklearn_p") == out.pop("compiled_p")).all())
    t0, scored = time.perf_counter(), []
    for j in range(chunks):
        p = scorer.predict(frame)
        scored.append(pd.DataFrame({
            "customer_id": (f"{j}-" + frame["customer_id"].astype(str)).to_numpy(), "churn_probability": p,
            "will_churn": p >= 0.5, "risk": risk_bands(p), "model_name": "bench", "model_version": "1",
            "scored_at": pd.Timestamp.now(tz="UTC")}))
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        with PartitionWriter(url, "1999-01-01") as w:
            for chunk in scored:
                w.write(chunk)
            write_s = time.perf_counter() - t0
            raise _Discard  # nothing of the scratch partition is kept
    except _Discard:
        pass
    model = champion.pipeline[-1]
    trees = sum(len(it) for it in getattr(model, "_predictors", []))
    return {"rows": rows, "sklearn_rows_s": round(out["sklearn"]), "compiled_rows_s": round(out["compiled"]),
            "bit_identical": equal, "trees": trees, "model": type(model).__name__,
            "score_only_rows_s": round(chunks * rows / score_s), "write_only_rows_s": round(chunks * rows / write_s),
            "chunks": chunks, "p_mean": float(np.mean(p))}


class _Discard(Exception):
    pass


def _timed_job(instance, name: str, cfg: dict, sampler) -> tuple[object, dict, dict]:
    """Materialize one partition with ``name``; per step: seconds and the peak RSS sampled inside it."""
    from churn_assets.local import runs

    res = runs.load_defs().resolve_job_def(name).execute_in_process(instance=instance, partition_key=DAY,
                                                                    run_config=cfg)
    spans = {}
    for rec in instance.all_logs(res.run_id):
        ev = rec.dagster_event
        if ev and ev.step_key and ev.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            spans.setdefault(ev.step_key, [None, None])[ev.event_type_value != "STEP_START"] = rec.timestamp
    steps = {}
    for key, (start, end) in spans.items():
        inside = [r for t, r in list(sampler.samples) if start <= t <= (end or start)]
        steps[key] = {"seconds": round((end or start) - start, 2), "peak_rss_gb": round(max(inside, default=0) / 1e9, 2)}
    meta = {e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
            for e in res.get_asset_materialization_events()}
    return res, steps, meta


def child(rows: int, predictions_url: str = "", outcomes: bool = False) -> dict:
    """Train (not timed), then score one partition of ``rows``; with ``outcomes``, the day's outcomes
    arrive and ``churn_outcomes`` (labelled_outcomes, model_performance) runs on it too."""
    import dataclasses

    import dagster as dg

    from bench.common import isolated_home
    from churn_assets.core.data.batches import write_synthetic_labels
    from churn_assets.local import runs

    isolated_home()
    with dg.instance_for_test() as instance:
        _train(instance)
        defs = runs.load_defs()
        source = defs.resources["dataset"]
        url = predictions_url or defs.resources["predictions_store"].predictions_url
        baseline = _baseline(url)
        cfg = {**runs.QUIET, **runs.resources(defs=defs, batch_rows=rows, predictions_url=url)}
        sampler = Sampler()
        sampler.start()
        t0 = time.perf_counter()
        res, steps, meta = _timed_job(instance, "churn_scoring", cfg, sampler)
        seconds = time.perf_counter() - t0
        peak = max(max((r for _, r in list(sampler.samples)), default=0), _kernel_peak())  # before the outcomes
        if outcomes:
            write_synthetic_labels(DAY, dataclasses.replace(source.batches(), rows=rows), source.labels_dir)
            later, more, _ = _timed_job(instance, "churn_outcomes", cfg, sampler)
            steps.update(more)
        samples = sampler.stop()
    scored = meta["churn_predictions"]["dagster/row_count"].value
    return {"rows": rows, "success": res.success and (not outcomes or later.success), "seconds": round(seconds, 1),
            "steps": steps, "scored_rows": scored,
            "explained_rows": meta["churn_predictions"]["customers_with_reasons"].value,
            "scoring_rows_s": round(scored / steps["churn_predictions"]["seconds"]),
            "peak_rss_gb": round(peak / 1e9, 2),
            "outcomes_peak_rss_gb": round(max((r for _, r in samples), default=0) / 1e9, 2) if outcomes else None,
            "baseline": baseline, "backend": "postgresql" if predictions_url else "sqlite"}


def run(rows: int, predictions_url: str = "", outcomes: bool = True) -> dict:
    cmd = [sys.executable, "-m", "bench.scoring_scale", "--rows", str(rows)] + (["--outcomes"] if outcomes else [])
    if predictions_url:
        cmd += ["--predictions-url", predictions_url]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"scoring at {rows:,} rows failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def rows_for(r: dict) -> list[dict]:
    st, b = r["steps"], r["baseline"]
    ok = r["success"] and r["scoring_rows_s"] >= TARGET_ROWS_S and r["peak_rss_gb"] < TARGET_GB \
        and st["drift_report"]["seconds"] < TARGET_DRIFT_S
    return [
        {"benchmark": f"scoring: {r['rows']:,} customers, one partition ({r['backend']})",
         "result": f"churn_predictions {r['scoring_rows_s']:,} rows/s, peak RSS {r['peak_rss_gb']:.2f} GB, "
                   f"drift {st['drift_report']['seconds']:.1f} s",
         "baseline": f"target >= {TARGET_ROWS_S:,} rows/s, < {TARGET_GB} GB, drift < {TARGET_DRIFT_S:.0f} s",
         "ratio": f"{r['scoring_rows_s'] / TARGET_ROWS_S:.2f}x of target", "ok": ok},
        {"benchmark": f"scoring: steps at {r['rows']:,} (s / peak GB)",
         "result": ", ".join(f"{k} {v['seconds']:.0f}/{v['peak_rss_gb']:.2f}" for k, v in st.items()
                             if k in SCORING_STEPS),
         "baseline": f"validation {r['rows'] / st['scoring_batch']['seconds']:,.0f} rows/s",
         "ratio": f"{r['explained_rows']:,} rows explained", "ok": None},
        *([{"benchmark": f"outcomes: the same day's outcomes at {r['rows']:,} (s / peak GB)",
            "result": ", ".join(f"{k} {v['seconds']:.0f}/{v['peak_rss_gb']:.2f}" for k, v in st.items()
                                if k not in SCORING_STEPS),
            "baseline": "no target (not scoring)", "ratio": "-", "ok": None}] if r.get("outcomes_peak_rss_gb") else []),
        {"benchmark": f"scoring: its two halves alone, {b['chunks']} chunks of {b['rows']:,}",
         "result": f"score only {b['score_only_rows_s']:,} rows/s (read excluded), "
                   f"write only {b['write_only_rows_s']:,} rows/s ({r['backend']})",
         "baseline": f"target >= {TARGET_ROWS_S:,} rows/s",
         "ratio": f"score {b['score_only_rows_s'] / TARGET_ROWS_S:.2f}x, write {b['write_only_rows_s'] / TARGET_ROWS_S:.2f}x",
         "ok": None},
        {"benchmark": f"scoring: model on {b['rows']:,} rows ({b['model']}, {b['trees']} trees)",
         "result": f"compiled {b['compiled_rows_s']:,} rows/s (bit-identical: {b['bit_identical']})",
         "baseline": f"scikit-learn {b['sklearn_rows_s']:,} rows/s",
         "ratio": f"{b['compiled_rows_s'] / b['sklearn_rows_s']:.2f}x", "ok": b["bit_identical"]},
    ]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--predictions-url", default="", help="default: SQLite under the run's CHURN_HOME")
    p.add_argument("--outcomes", action="store_true", help="then the day's outcomes: labelled_outcomes, model_performance")
    a = p.parse_args()
    print(json.dumps(child(a.rows, a.predictions_url, a.outcomes)))
