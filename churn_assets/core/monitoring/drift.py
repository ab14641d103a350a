"""Data and prediction drift with Evidently 0.7.

Per column, Evidently picks the method by size and type (numeric: K-S p-value up to 1,000 rows,
normalized Wasserstein distance above; categorical: chi-square/Z-test or Jensen-Shannon). Scores
are never compared across methods: each column's *test status* is the drift flag. The data set
drifts when the share of drifted columns reaches ``drift_share``.

Both sides are sampled to ``sample_rows`` (default 10,000): above 1,000 rows the test is the
normalized Wasserstein distance against 0.1 (an effect size, not a p-value), whose sampling
noise at 10,000 rows is ~0.01, so sampling keeps the power to flag shifts of ~0.1 standard
deviations while 100,000 x 30 takes seconds instead of tens of seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

PREDICTION = "prediction"


@dataclass
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass
class DriftResult:
    drift_detected: bool
    drifted_share: float
    drift_share: float
    columns: list[ColumnDrift] = field(default_factory=list)
    rows_reference: int = 0
    rows_current: int = 0
    html_path: str = ""
    # Evidently's own summary (DriftedColumnsCount of the report): it counts every compared column,
    # the prediction included, so its figures are one column more than the features-only ones above.
    report_columns: int = 0
    report_drifted: int = 0
    report_share: float = 0.0

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted and c.column != PREDICTION]

    @property
    def prediction_drift(self) -> ColumnDrift | None:
        return next((c for c in self.columns if c.column == PREDICTION), None)

    @property
    def features(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.column != PREDICTION]

    def headline(self) -> str:
        """The one number a person reads: drifted features (the prediction is reported separately)."""
        n, k = len(self.features), len(self.drifted_columns)
        pred = self.prediction_drift
        said = "not measured" if pred is None else ("drifted" if pred.drifted else "no drift")
        return f"{k} of {n} features drifted ({self.drifted_share:.0%}); prediction: {said}"

    def summary_rows(self) -> list[dict]:
        """The report's summary as rows: features only (what the drift flag uses), the prediction, and
        Evidently's own count over both (the figure at the top of the HTML report)."""
        pred = self.prediction_drift
        rows = [{"counted": "features (the drift flag)", "columns": len(self.features),
                 "drifted": len(self.drifted_columns), "share": round(self.drifted_share, 4)}]
        if pred is not None:
            rows.append({"counted": "prediction", "columns": 1, "drifted": int(pred.drifted),
                         "share": float(int(pred.drifted))})
        if self.report_columns:
            rows.append({"counted": "Evidently report (both)", "columns": self.report_columns,
                         "drifted": self.report_drifted, "share": round(self.report_share, 4)})
        return rows


def _sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return df.sample(n, random_state=seed) if n and len(df) > n else df


def detect(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], drift_share: float = 0.3,
           sample_rows: int = 10_000, seed: int = 42, html_path: str | Path | None = None) -> DriftResult:
    """Compare ``current`` with ``reference`` over ``columns`` (include PREDICTION for score drift)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref = _sample(reference[columns], sample_rows, seed).reset_index(drop=True)
    cur = _sample(current[columns], sample_rows, seed).reset_index(drop=True)
    # Prediction drift counts as its own signal, not as one of the feature columns.
    features = [c for c in columns if c != PREDICTION]
    report = Report([DataDriftPreset(columns=columns, drift_share=drift_share)], include_tests=True)
    snap = report.run(cur, ref)
    data = snap.dict()
    metrics = {m["id"]: m for m in data["metrics"]}
    counted = next((m for m in data["metrics"] if m.get("config", {}).get("type", "").endswith(":DriftedColumnsCount")),
                   None)
    cols: list[ColumnDrift] = []
    for test in data["tests"]:
        cfg = test.get("metric_config", {}).get("params", {})
        if cfg.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        metric = metrics[test["metric_config"]["metric_id"]]
        cols.append(ColumnDrift(column=cfg["column"], method=cfg.get("method", ""), score=float(metric["value"]),
                                threshold=float(cfg.get("threshold", float("nan"))),
                                drifted=test["status"] == "FAIL"))
    drifted = sum(c.drifted for c in cols if c.column in features)
    share = drifted / len(features) if features else 0.0
    if html_path:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        snap.save_html(str(html_path))
    return DriftResult(drift_detected=share >= drift_share and drifted > 0, drifted_share=share,
                       drift_share=drift_share, columns=cols, rows_reference=len(ref), rows_current=len(cur),
                       html_path=str(html_path or ""),
                       report_columns=len(counted["config"].get("columns") or columns) if counted else 0,
                       report_drifted=int(counted["value"]["count"]) if counted else 0,
                       report_share=float(counted["value"]["share"]) if counted else 0.0)


def features_with_scores(pipeline, df: pd.DataFrame, scores=None) -> pd.DataFrame:
    """The Pipeline's own features of ``df`` plus its churn score: what drift compares."""
    feats = pipeline.named_steps["features"].transform(df)
    feats[PREDICTION] = pipeline.predict_proba(df)[:, 1] if scores is None else scores
    return feats.reset_index(drop=True)


def drift_columns(pipeline) -> list[str]:
    builder = pipeline.named_steps["features"]
    return list(builder.numeric_features_) + list(builder.categorical) + [PREDICTION]
