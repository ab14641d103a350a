"""The monitoring loop against a real Dagster instance and a real MLflow store: partitioned
scoring, the predictions table, Evidently drift, realized performance, sensors and alerts."""

import json
import os

import dagster as dg
import pytest

from churn_assets.core.data.batches import BatchSettings, write_synthetic_labels
from churn_assets.core.scoring import predictions_table as predictions
from churn_assets_tests.conftest import isolated_settings, resources, run_training, settings
from churn_assets_tests.receiver import http_receiver

pytestmark = pytest.mark.integration

DAY0, DAY1 = "2025-07-01", "2025-07-02"


@pytest.fixture(scope="module")
def webhook():
    with http_receiver("/alerts") as receiver:
        yield receiver.url, receiver.bodies


@pytest.fixture(scope="module")
def loop(tmp_path_factory, webhook):
    """Train a champion, then score DAY0 (unshifted) and DAY1 (shifted) as a two-partition backfill."""
    from churn_assets.definitions import build_defs

    tmp = tmp_path_factory.mktemp("loop")
    s = settings(isolated_settings(tmp, model_name="churn-loop"), webhook_url=webhook[0], batch_rows=3000,
                 shift="engagement_drop", shift_from=DAY1)
    (tmp / "dh").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp / "dh")) as instance:
        assert run_training(instance, rows=4000, trials=4, settings=s).success
        defs = build_defs(s)
        scoring = defs.resolve_job_def("churn_scoring")
        runs = {day: scoring.execute_in_process(instance=instance, partition_key=day) for day in (DAY0, DAY1)}
        yield {"instance": instance, "runs": runs, "settings": s, "defs": defs, "tmp": tmp, "alerts": webhook[1]}


def _meta(result, key):
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return event.event_specific_data.materialization.metadata


def test_backfill_scores_two_partitions(loop):
    counts = predictions.counts(loop["settings"].predictions_url).set_index("partition")
    assert counts.loc[DAY0, "rows"] == counts.loc[DAY0, "customers"] == 3000
    assert counts.loc[DAY1, "rows"] == 3000
    assert loop["instance"].get_materialized_partitions(dg.AssetKey("drift_report")) == {DAY0, DAY1}


def test_rerun_replaces_a_partition_never_duplicates(loop):
    loop["defs"].resolve_job_def("churn_scoring").execute_in_process(instance=loop["instance"], partition_key=DAY0)
    counts = predictions.counts(loop["settings"].predictions_url).set_index("partition")
    assert counts.loc[DAY0, "rows"] == counts.loc[DAY0, "customers"] == 3000


def test_predictions_carry_the_top_three_exact_reasons(loop):
    import numpy as np

    from churn_assets.core.registry.champion import load_champion
    from churn_assets.core.training import tracking
    from churn_assets.model.explain import PipelineExplainer

    table = predictions.read_partition(loop["settings"].predictions_url, DAY0)
    assert table[["reason_1", "reason_2", "reason_3"]].notna().all().all()
    champion = load_champion(tracking.client(loop["settings"].mlflow_tracking_uri), "churn-loop")
    columns = set(champion.contract.feature_columns)
    for r in table["reason_1"].head(50):
        name, value = r.rsplit(":", 1)
        assert name in columns and value[0] in "+-" and float(value) == float(value)
    [event] = [e for e in loop["runs"][DAY0].get_asset_materialization_events()
               if e.asset_key.to_user_string() == "churn_predictions"]
    assert event.event_specific_data.materialization.metadata["reasons_per_customer"].value == 3
    scored = loop["runs"][DAY0].output_for_node("scoring_batch").read()
    ex = PipelineExplainer(champion.pipeline).explain_frame(scored.head(20))
    want = [f"{n}:{v:+.2f}" for n, v in (ex.top(i, 1)[0] for i in range(20))]
    got = table.set_index("customer_id").loc[scored[champion.contract.id_column].astype(str).head(20), "reason_1"]
    assert list(got) == want
    # Contributions and base value add up to the model's raw score for the scored rows.
    assert np.allclose(ex.base_value + ex.contributions.sum(1), ex.raw_score, atol=1e-6)


def test_drift_report_metadata(loop):
    clean, shifted = _meta(loop["runs"][DAY0], "drift_report"), _meta(loop["runs"][DAY1], "drift_report")
    assert clean["drift_detected"].value is False and shifted["drift_detected"].value is True
    assert isinstance(shifted["drifted_share"].value, float) and shifted["drifted_share"].value >= 0.3
    assert "logins_last_30_days" in shifted["drifted_columns"].value
    per_col = shifted["per_column_scores"].value
    assert per_col["logins_last_30_days"]["method"] and per_col["logins_last_30_days"]["drifted"] is True
    assert "prediction" in per_col  # prediction drift is measured too
    assert os.path.getsize(shifted["report"].value) > 10_000  # the Evidently HTML is kept


def _requests(result):
    items = result if isinstance(result, list) else [result]
    return [r for r in items if isinstance(r, dg.RunRequest)]


def _ctx(loop, cursor=None):
    instance, res = loop["instance"], resources(loop["settings"])
    return dg.build_sensor_context(instance=instance, cursor=cursor,
                                   resources={k: res[k] for k in ("mlflow", "dataset")})


def test_drift_sensor_requests_one_retrain_per_event(loop):
    from churn_assets.defs.monitoring.sensors import retrain_sensor

    instance = loop["instance"]
    ctx = _ctx(loop)
    requests = _requests(retrain_sensor()(ctx))
    # Every new drift_report event is read (not only the latest): exactly the drifted partition fires.
    assert [r.tags["churn/partition"] for r in requests] == [DAY1]
    assert requests[0].tags["churn/trigger"] == "drift" and requests[0].run_key == f"retrain-{DAY1}"
    assert requests[0].tags["churn/champion_version"] == "1"  # the run is pinned at launch
    # Ticking again from the saved cursor fires nothing: one event, one run.
    again = _ctx(loop, ctx.cursor)
    assert isinstance(retrain_sensor()(again), dg.SkipReason)
    # A re-scored clean partition after the cursor is seen but does not fire.
    loop["defs"].resolve_job_def("churn_scoring").execute_in_process(instance=instance, partition_key=DAY0)
    later = _ctx(loop, ctx.cursor)
    assert isinstance(retrain_sensor()(later), dg.SkipReason) and later.cursor != ctx.cursor


def test_retrain_job_never_contains_monitoring_assets():
    from churn_assets.definitions import build_defs

    job = build_defs(settings()).resolve_job_def("churn_training")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert "registered_model" in keys and "tuned_model" in keys
    assert not keys & {"drift_report", "model_performance", "scoring_batch", "churn_predictions"}


def test_outcomes_performance_and_degradation_sensor(loop):
    from churn_assets.defs.monitoring.sensors import outcomes_sensor, retrain_sensor

    instance, labels_dir = loop["instance"], str(loop["settings"].labels_dir)
    batches = BatchSettings(rows=3000, shift="engagement_drop", shift_from=DAY1)
    ctx = _ctx(loop)
    assert isinstance(outcomes_sensor()(ctx), dg.SkipReason)  # no outcomes yet
    for day in (DAY0, DAY1):
        write_synthetic_labels(day, batches, labels_dir)
    ctx = _ctx(loop, ctx.cursor)
    reqs = outcomes_sensor()(ctx)
    assert sorted(r.partition_key for r in reqs) == [DAY0, DAY1]
    assert isinstance(outcomes_sensor()(_ctx(loop, ctx.cursor)), dg.SkipReason)
    job = loop["defs"].resolve_job_def("churn_outcomes")
    perf = {day: job.execute_in_process(instance=instance, partition_key=day).output_for_node("model_performance")
            for day in (DAY0, DAY1)}
    assert perf[DAY0]["degraded"] is False and perf[DAY1]["degraded"] is True, perf
    assert "ROC-AUC" in perf[DAY1]["why"]  # the shifted mechanism decays the ranking
    # Drift and degradation of the same day coalesce into one request (one sensor, one run key).
    fired = _requests(retrain_sensor()(_ctx(loop)))
    assert [(r.tags["churn/partition"], r.tags["churn/trigger"], r.run_key) for r in fired] == \
        [(DAY1, "degradation+drift", f"retrain-{DAY1}")]


def test_webhook_received_the_alerts(loop):
    events = [a["event"] for a in loop["alerts"]]
    assert "promotion" in events and "drift" in events
    drift = next(a for a in loop["alerts"] if a["event"] == "drift")
    assert drift["details"]["partition"] == DAY1 and drift["details"]["drifted_columns"]


def test_sensors_never_miss_or_repeat_across_restarts_and_a_backfill(loop):
    """A backfill of five days with a daemon restart in the middle (the sensors rebuilt from their
    stored cursors): every drifted day is covered by exactly one retrain request, and every day with
    outcomes gets exactly one outcomes run."""
    from churn_assets.defs.monitoring.sensors import outcomes_sensor, retrain_sensor

    instance, labels_dir = loop["instance"], str(loop["settings"].labels_dir)
    days = ["2025-07-10", "2025-07-11", "2025-07-12", "2025-07-13", "2025-07-14"]
    stored = {"retrain": None, "outcomes": None}  # what the daemon keeps between restarts

    def tick(sensor, key):
        ctx = _ctx(loop, stored[key])  # a restarted daemon only has the stored cursor
        reqs = _requests(sensor(ctx))
        stored[key] = ctx.cursor
        return reqs

    tick(retrain_sensor(), "retrain")  # consume the events of the other tests
    tick(outcomes_sensor(), "outcomes")
    scoring = loop["defs"].resolve_job_def("churn_scoring")
    batches = BatchSettings(rows=3000, shift="engagement_drop", shift_from=DAY1)
    retrains, outcome_runs = [], []
    for i, day in enumerate(days):
        scoring.execute_in_process(instance=instance, partition_key=day)
        write_synthetic_labels(day, batches, labels_dir)
        if i in (1, 3):  # the daemon ticks twice during the backfill, restarting in between
            retrains += tick(retrain_sensor(), "retrain")
            outcome_runs += tick(outcomes_sensor(), "outcomes")
    retrains += tick(retrain_sensor(), "retrain")
    outcome_runs += tick(outcomes_sensor(), "outcomes")
    assert tick(retrain_sensor(), "retrain") == [] and tick(outcomes_sensor(), "outcomes") == []

    covered = [d for r in retrains for d in json.loads(r.tags["churn/events"])["drift"]]
    assert sorted(covered) == days  # every drifted day once, none twice
    assert len({r.run_key for r in retrains}) == len(retrains) == 3
    assert sorted(r.partition_key for r in outcome_runs) == sorted(days)
