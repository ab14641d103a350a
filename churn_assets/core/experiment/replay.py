"""Offline check of the experiment readout: replay the logged records through the registered models.

Each prediction-log row keeps the validated record the service scored (as JSON) and the model
version that scored it. ``replay_day`` reads those records back, scores them again in process with
the registered Pipeline of that version on the serving path (``FastScorer``, the code the Bento
runs), and ``core/experiment.read_out`` is run on the recomputed probabilities. The readout of the
log and the readout of the replay must agree (``max_difference`` < 1e-9): it shows that the logged
probabilities are what the registered models say about those customers, and that the readout's
numbers follow from the log and the outcomes alone.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import sqlalchemy as sa

from churn_assets.core.experiment.readout import ARMS, Readout, ReadoutConfig, read_out
from churn_assets.core.experiment.stats import METRICS
from churn_assets.model import prediction_log


def logged_records(url: str, day: str) -> dict[int, dict]:
    """Log row id -> the record as the service scored it (the JSON it logged)."""
    start, end = prediction_log.day_bounds(day)
    t = prediction_log.LOG_TABLE
    eng = prediction_log.engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(t.c.id, t.c.record).where(t.c.served_at >= start, t.c.served_at < end))
            return {int(i): json.loads(r) for i, r in rows}
    finally:
        eng.dispose()


def rescore(log: pd.DataFrame, records: dict[int, dict], pipelines: dict[str, object]) -> pd.DataFrame:
    """The log with ``churn_probability`` recomputed by the pipeline of each row's model version
    (``logged_probability`` keeps what was logged)."""
    from churn_assets.model.scorer import FastScorer

    out = log.assign(logged_probability=log["churn_probability"]).copy()
    for version, rows in out.groupby(out["model_version"].astype(str)):
        if version not in pipelines:
            raise KeyError(f"no pipeline for model version {version!r} (have {sorted(pipelines)})")
        scorer = FastScorer(pipelines[version])
        out.loc[rows.index, "churn_probability"] = scorer.predict_records([records[int(i)] for i in rows["id"]])
    return out


def registered_pipelines(tracking_uri: str, name: str, versions) -> dict[str, object]:
    """Version -> the registered Pipeline of ``name`` (loaded from the registry at ``tracking_uri``)."""
    import mlflow

    from churn_assets.core.training.tracking import client

    client(tracking_uri)
    return {str(v): mlflow.sklearn.load_model(f"models:/{name}/{v}") for v in sorted(set(map(str, versions)))}


def replay_day(url: str, day: str, outcomes: pd.DataFrame, pipelines: dict[str, object],
               cfg: ReadoutConfig | None = None) -> tuple[Readout, pd.DataFrame]:
    """The readout of ``day`` on replayed probabilities, and the replayed log."""
    log = prediction_log.read_day(url, day)
    replayed = rescore(log, logged_records(url, day), pipelines)
    return read_out(replayed, outcomes, cfg or ReadoutConfig()), replayed


def figures(r: Readout | dict) -> dict[str, float]:
    """Every number of a readout (or of its ``as_dict()``, the asset's value), flat: per-arm counts,
    metrics and intervals, the differences and their intervals."""
    r = r.as_dict() if isinstance(r, Readout) else r
    out: dict[str, float] = {}
    for arm in ARMS:
        a = r["arms"][arm]
        out |= {f"{arm}.customers": a["customers"], f"{arm}.outcomes": a["outcomes"],
                f"{arm}.churn_rate": a["churn_rate"]}
        out |= {f"{arm}.{k}": a["metrics"].get(k, np.nan) for k in METRICS}
        out |= {f"{arm}.{k}.ci_{i}": a["ci"].get(k, (np.nan, np.nan))[i] for k in METRICS for i in (0, 1)}
    out |= {f"difference.{k}": v for k, v in r["difference"].items()}
    out |= {f"difference.{k}.ci_{i}": v[i] for k, v in r["difference_ci"].items() for i in (0, 1)}
    return {k: float(v) for k, v in out.items()}


def max_difference(a: Readout | dict, b: Readout | dict) -> float:
    """Largest absolute difference between two readouts' numbers (inf if they differ in shape,
    design or decision); NaN equals NaN."""
    a, b = (x.as_dict() if isinstance(x, Readout) else x for x in (a, b))
    fa, fb = figures(a), figures(b)
    if fa.keys() != fb.keys() or a["decision"] != b["decision"] or a["design"] != b["design"]:
        return float("inf")
    x, y = np.array(list(fa.values())), np.array([fb[k] for k in fa])
    both_nan = np.isnan(x) & np.isnan(y)
    if (np.isnan(x) ^ np.isnan(y)).any():
        return float("inf")
    return float(np.max(np.abs(x[~both_nan] - y[~both_nan]), initial=0.0))


def challenger_rows(url: str, day: str) -> int:
    """How many challenger predictions (shadow or served) the log holds for ``day`` (0 when the log
    does not exist yet): the readout sensor's cheap test for "there was an experiment"."""
    start, end = prediction_log.day_bounds(day)
    t = prediction_log.LOG_TABLE
    eng = prediction_log.engine(url)
    try:
        if not sa.inspect(eng).has_table(prediction_log.TABLE):
            return 0
        if "arm" not in {c["name"] for c in sa.inspect(eng).get_columns(prediction_log.TABLE)}:
            return 0  # a log written before arms existed has no challenger
        with eng.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(
                t.c.served_at >= start, t.c.served_at < end, t.c.arm == "challenger")).scalar_one())
    finally:
        eng.dispose()
