"""`make bench-explain`: exact explanations (model/explain.py), per model family, in-process.

For each family a Pipeline is fitted on synthetic customers with mid-search-space parameters (the
trees' size drives the cost: path-dependent TreeSHAP is linear in leaves x path length). Measured:

* batch throughput: explained rows/s on a batch of ``--batch`` rows (records -> contributions per
  raw column), on one thread (the Bento's /explain, numpy TreeSHAP), split over all cores, and
  with the compiled, tabulated TreeSHAP that batch scoring uses (``batch_explainer``: numba, in the
  Dagster code location only), against the same-run baseline of scoring the same batch;
* single-record latency: median and p95 of ``explain_records([one])`` over ``--repeats`` calls.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from bench.common import cpu_calibration, table, write

PARAMS = {
    "logistic_regression": {"C": 1.0, "class_weight": "balanced"},
    "random_forest": {"n_estimators": 100, "max_depth": 8, "min_samples_leaf": 7, "max_features": "sqrt",
                      "max_samples": 0.35, "class_weight": "balanced_subsample"},
    "hist_gradient_boosting": {"learning_rate": 0.1, "max_leaf_nodes": 23, "min_samples_leaf": 45,
                               "l2_regularization": 0.03, "max_features": 0.7},
}


def _records(df, columns) -> list[dict]:
    return json.loads(df[columns].to_json(orient="records", date_format="iso", date_unit="s"))


def run(rows: int, batch: int, repeats: int) -> list[dict]:
    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets.core.data.sources import load_raw
    from churn_assets.core.data.spec import synthetic_spec
    from churn_assets.core.data.validation import validate
    from churn_assets.core.scoring.batch_reasons import batch_explainer
    from churn_assets.core.training.modeling import assemble, feature_steps, make_estimator
    from churn_assets.model.explain import PipelineExplainer
    from churn_assets.model.scorer import FastScorer

    spec = synthetic_spec(rows=rows)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    clean = validate(raw, contract).clean
    train, test = clean.iloc[: int(rows * 0.8)], clean.iloc[int(rows * 0.8):]
    records = _records(test.head(batch), contract.feature_columns)
    out = []
    for family, params in PARAMS.items():
        builder, encoder = feature_steps(contract)
        X = encoder.fit(builder.fit(train).transform(train)).transform(builder.transform(train))
        est = make_estimator(family, params, seed=42).fit(X, train[contract.target_column].to_numpy(dtype=int))
        if hasattr(est, "n_jobs"):
            est.n_jobs = 1
        pipeline = assemble(builder, encoder, est)
        t0 = time.perf_counter()
        explainer = PipelineExplainer(pipeline)
        build_s = time.perf_counter() - t0
        scorer = FastScorer(pipeline)
        t0 = time.perf_counter()
        scorer.predict_records(records)
        score_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ex = explainer.explain_records(records)
        explain_s = time.perf_counter() - t0
        gap = float(np.abs(ex.base_value + ex.contributions.sum(axis=1) - ex.raw_score).max())
        explainer.threads = os.cpu_count() or 1  # what batch scoring uses (explain_batch)
        t0 = time.perf_counter()
        explainer.explain_records(records)
        all_cores_s = time.perf_counter() - t0
        explainer.threads = 1
        compiled = batch_explainer(pipeline)  # what batch scoring uses: tabulated once per partition
        t0 = time.perf_counter()
        compiled.explain_records(records[:10])  # numba's first call (or its cache)
        compiled_build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cex = compiled.explain_records(records)
        compiled_s = time.perf_counter() - t0
        gap = max(gap, float(np.abs(cex.base_value + cex.contributions.sum(axis=1) - cex.raw_score).max()))
        single = []
        for r in records[:repeats]:
            t0 = time.perf_counter()
            explainer.explain_records([r])
            single.append((time.perf_counter() - t0) * 1000)
        out.append({"family": family, "leaves": getattr(explainer.shap, "n_leaves", 0), "build_s": round(build_s, 3),
                    "explain_rows_s": batch / explain_s, "all_cores_rows_s": batch / all_cores_s,
                    "compiled_rows_s": batch / compiled_s, "compiled_build_s": round(compiled_build_s, 2),
                    "compiled_vs_numpy": round(min(explain_s, all_cores_s) / compiled_s, 1),
                    "score_rows_s": batch / score_s,
                    "explain_vs_score": round(score_s / explain_s, 4),
                    "single_p50_ms": float(np.median(single)), "single_p95_ms": float(np.percentile(single, 95)),
                    "max_additivity_error": gap,
                    "target_2000_rows_s": batch / compiled_s >= 2000})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50_000, help="synthetic customers (80%% train)")
    ap.add_argument("--batch", type=int, default=2_000, help="rows in the explained batch")
    ap.add_argument("--repeats", type=int, default=50, help="single-record calls")
    a = ap.parse_args()
    cpu_calibration()
    rows = run(a.rows, a.batch, a.repeats)
    cols = ["family", "leaves", "build_s", "explain_rows_s", "all_cores_rows_s", "compiled_rows_s", "compiled_vs_numpy",
            "score_rows_s", "explain_vs_score", "single_p50_ms",
            "single_p95_ms", "max_additivity_error", "target_2000_rows_s"]
    print(table(rows, cols, f"Explanations: batch of {a.batch} records, {a.rows:,} synthetic customers "
                            f"(cpu calibration {cpu_calibration()} s)"))
    print("\nwritten:", write("explain", {"args": vars(a), "rows": rows}))


if __name__ == "__main__":
    main()
