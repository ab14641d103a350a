"""The loop that learns, on small data: drift and degradation -> one retrain on the labelled window ->
a challenger judged on the newest labelled day -> promoted. Real Dagster instance, real MLflow store,
the real sensors; no number here is tuned to a seed (the shift changes the churn mechanism strongly)."""

import json

import dagster as dg
import pytest

from churn_assets.core.scoring import predictions_table as predictions
from churn_assets.local import runs
from churn_assets.sim.loop import DAYS, SHIFT_FROM, monitoring_loop
from churn_assets_tests.conftest import isolated_settings, settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("learning")
    # model_name empty: the default, one registered model per data set
    s = settings(isolated_settings(tmp), model_name="", batch_rows=1500)
    (tmp / "dh").mkdir()
    lines: list[str] = []
    with dg.instance_for_test(temp_dir=str(tmp / "dh")) as instance:
        first = runs.train(4, instance, rows=4000, settings=s)
        assert first.success
        out = monitoring_loop(instance, s, trials=4, rows=4000, serve=False, echo=lines.append)
        yield {"instance": instance, "out": out, "lines": lines, "first": first, "settings": s}


def test_retrain_on_the_window_beats_the_stale_champion_on_post_shift_data(loop):
    reg = loop["out"]["decision"]
    assert reg["name"] == "churn-synthetic"  # scoped to the data set by default
    assert reg["basis"] == "time_holdout" and reg["promoted"], loop["lines"]
    assert reg["training_days"] == DAYS[:-1] and reg["time_holdout_days"] == DAYS[-1:]
    assert reg["recent_challenger"] - reg["recent_champion"] >= 0.02, reg
    tags = runs_client_tags(loop["settings"], reg)
    assert tags["training_days"] == ",".join(DAYS[:-1]) and tags["time_holdout_days"] == DAYS[-1]
    assert tags["gate_basis"] == "time_holdout"
    assert float(tags["gate_recent_challenger"]) == pytest.approx(reg["recent_challenger"], abs=1e-6)
    assert int(tags["gate_recent_rows"]) > 1000 and int(tags["gate_test_rows"]) > 0
    assert int(tags["training_rows"]) > int(tags["training_base_rows"]) > 0


def runs_client_tags(s, reg) -> dict:
    from churn_assets.core.training import tracking

    return tracking.client(s.mlflow_tracking_uri).get_model_version(reg["name"], reg["version"]).tags


def test_drift_and_degradation_coalesce_into_one_retrain(loop):
    instance = loop["instance"]
    retrains = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "retrain_sensor"}))
    assert len(retrains) == 1
    run = retrains[0]
    assert run.tags["churn/trigger"] == "degradation+drift"
    events = json.loads(run.tags["churn/events"])
    shifted = [d for d in DAYS if d >= SHIFT_FROM]
    assert set(events["drift"]) <= set(shifted) and DAYS[-1] in events["degradation"]
    assert run.tags["dagster/run_key"] == f"retrain-{DAYS[-1]}"
    assert run.tags["churn/champion_version"] == "1"  # pinned when the run started
    assert any("ticked again: 0 new request" in line for line in loop["lines"])
    # Each scored day was labelled and measured exactly once.
    outcome_runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "outcomes_sensor"}))
    assert sorted(r.tags["dagster/run_key"] for r in outcome_runs) == [f"outcomes-{d}" for d in DAYS]


def test_training_data_metadata_names_the_days_and_rows(loop):
    instance = loop["instance"]
    [rec] = instance.fetch_materializations(dg.AssetKey("training_data"), limit=1).records
    meta = rec.asset_materialization.metadata
    assert meta["labelled_days"].value == DAYS[:-1]
    per_source = meta["rows_per_source"].value
    assert set(per_source) == {"base", *DAYS[:-1]} and all(v > 1000 for k, v in per_source.items() if k != "base")
    [hold] = instance.fetch_materializations(dg.AssetKey("time_holdout"), limit=1).records
    assert hold.asset_materialization.metadata["days"].value == DAYS[-1:]


def test_lineage_shows_the_loop():
    graph = runs.load_defs().resolve_asset_graph()

    def parents(key):
        return {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}

    # The feedback edge is read, not declared (so the UI draws the graph left to right): the window's
    # description names it, and its metadata lists the labelled days it read (tested above).
    assert not {"labelled_outcomes"} & (parents("training_data") | parents("time_holdout"))
    assert "labelled_outcomes" in graph.get(dg.AssetKey("training_data")).description
    assert "training_data" in parents("customer_features")
    assert "time_holdout" in parents("registered_model")
    assert {"champion_model"} <= parents("scoring_batch") and "champion_model" in parents("labelled_outcomes")
    assert "labelled_outcomes" in parents("model_performance")


def test_a_run_uses_the_champion_it_pinned_at_its_start(loop):
    """v2 is champion now; a scoring run launched when v1 was (tag set at launch) scores with v1 in
    every step, and a run without the tag pins the current champion on its first step."""

    instance = loop["instance"]
    defs = runs.load_defs(loop["settings"])
    job = defs.resolve_job_def("churn_scoring")
    day = "2025-07-07"
    cfg = {**runs.QUIET, **runs.resources(defs=defs, shift_from=SHIFT_FROM)}
    url = loop["settings"].predictions_url
    old = job.execute_in_process(instance=instance, partition_key=day, run_config=cfg,
                                 tags={"churn/champion_version": "1"})
    assert set(predictions.read_partition(url, day)["model_version"].astype(str)) == {"1"}
    assert old.output_for_node("drift_report")["model_version"] == "1"
    new = job.execute_in_process(instance=instance, partition_key=day, run_config=cfg)
    assert set(predictions.read_partition(url, day)["model_version"].astype(str)) == {"2"}
    assert instance.get_run_by_id(new.run_id).tags["churn/champion_version"] == "2"
