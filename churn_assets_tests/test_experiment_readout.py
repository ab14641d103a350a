"""experiment_readout on a real prediction log (PredictionLog), real outcomes files and a real MLflow
registry, with a known answer: the challenger is a 60-iteration boosting model, the champion a
one-split stump, both registered Pipelines scoring the same synthetic customers. Also: the offline
replay gives the asset's numbers, the readout sensor, promotion with CHURN_PROMOTION_BASIS=readout
(compare-and-set), the registry gate deferring to the readout, and the demo's printed readout."""

from __future__ import annotations

import datetime as dt
import zlib

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score

from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.validation import validate
from churn_assets.core.registry import model_registry as registry
from churn_assets.core.training import tracking, tuning
from churn_assets.core.training.model_logging import log_pipeline
from churn_assets.core.training.modeling import assemble, feature_steps
from churn_assets.core.training.splits import split
from churn_assets.model.prediction_log import PredictionLog
from churn_assets.model.scorer import FastScorer
from churn_assets.model.settings import Settings
from churn_assets_tests.conftest import isolated_settings, resources, settings

pytestmark = pytest.mark.slow

TODAY = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
ROWS = 1500


def _register(client, name, contract, splits, estimator, label):
    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(splits.train).transform(splits.train)).transform(builder.transform(splits.train))
    pipe = assemble(builder, encoder, estimator.fit(X, splits.train[contract.target_column]))
    model = tuning.TunedModel(pipe, label, {}, 0.5, contract, {"f1": 0.0}, "s", 0.0, {})
    run_id = client.create_run(tracking.ensure_experiment(client, "readout-test")).info.run_id
    with tracking.active(run_id):
        uri = log_pipeline(model, splits.val)
    return registry.register(client, name, uri, run_id, {"family": label}), pipe


def _write(url: str, records: list[dict], probs: dict[str, np.ndarray], arms: list[list[tuple[str, bool]]],
           versions: dict[str, str]) -> None:
    """One log row per (record, arm, served) as the Bento writes them; ``arms[i]``: record i's rows."""
    plog = PredictionLog(url, flush_s=0.05).start()
    for i, r in enumerate(records):
        for arm, served in arms[i]:
            plog.append(f"req-{i}", "http", versions[arm], r, float(probs[arm][i]), str(r["customer_id"]),
                        arm=arm, served=served)
    plog.close(timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from churn_assets.core.data.batches import write_synthetic_labels
    from churn_assets.sim.experiment import batch_settings, experiment_records

    home = tmp_path_factory.mktemp("readout")
    s = settings(isolated_settings(home, model_name="churn-readout-test"), readout_resamples=300,
                 promotion_basis="time_holdout")
    spec = synthetic_spec(rows=3000)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    splits = split(validate(raw, contract).clean, contract.target_column, contract.id_column)
    client, name = tracking.client(s.mlflow_tracking_uri), s.model_name
    stump = HistGradientBoostingClassifier(max_iter=1, max_depth=1, random_state=0)
    v1, weak = _register(client, name, contract, splits, stump, "stump")
    boosting = HistGradientBoostingClassifier(max_iter=60, random_state=0)
    v2, good = _register(client, name, contract, splits, boosting, "hgb")
    registry.promote(client, name, v1)  # champion v1; v2 holds the alias challenger
    records = experiment_records(TODAY, ROWS, contract)
    probs = {"champion": FastScorer(weak).predict_records(records),
             "challenger": FastScorer(good).predict_records(records)}
    versions = {"champion": v1, "challenger": v2}
    labels = pd.read_csv(write_synthetic_labels(TODAY, batch_settings(ROWS), str(home / "labels")), dtype={0: str})
    shadow, ab = f"sqlite:///{home}/shadow.db", f"sqlite:///{home}/ab.db"
    _write(shadow, records, probs, [[("champion", True), ("challenger", False)]] * ROWS, versions)
    in_b = np.array([zlib.crc32(r["customer_id"].encode()) % 2 == 1 for r in records])  # a 50/50 split by id
    _write(ab, records, probs, [[("challenger" if b else "champion", True)] for b in in_b], versions)
    yield {"home": home, "client": client, "name": name, "v1": v1, "v2": v2, "pipes": {v1: weak, v2: good},
           "records": records, "probs": probs, "y": labels["churn"].astype(int).to_numpy(), "labels": labels,
           "in_b": in_b, "shadow": shadow, "ab": ab, "splits": splits, "contract": contract,
           "uri": s.mlflow_tracking_uri, "settings": s}


def _policy(resource, **update):
    """The experiment resource with fields changed (a new object: Dagster builds resources from their
    constructor arguments, which ``model_copy`` does not change)."""
    return type(resource)(**{**{k: getattr(resource, k) for k in type(resource).model_fields}, **update})


def _materialize(world, instance, url: str, day: str = TODAY, raise_on_error: bool = True, **policy):
    from churn_assets.defs.common.build import Build
    from churn_assets.defs.experiment import assets
    from churn_assets.model.settings import ServingSettings

    s = world["settings"]
    res = resources(s)
    res["experiment"] = _policy(res["experiment"], **policy)
    res["prediction_log"] = _policy(res["prediction_log"], prediction_log_url=url)
    experiment_readout, = assets.build(Build(s, ServingSettings(home=s.home)))
    result = dg.materialize([experiment_readout], partition_key=day, resources=res, instance=instance,
                            raise_on_error=raise_on_error)
    if not result.success:
        return result, None, None
    meta = {k: v.value for k, v in result.asset_materializations_for_node("experiment_readout")[-1].metadata.items()}
    return result, result.output_for_node("experiment_readout"), meta


def test_the_traffic_and_the_outcomes_are_the_same_customers(world):
    assert [r["customer_id"] for r in world["records"]] == world["labels"]["customer_id"].tolist()
    assert 0.1 < world["y"].mean() < 0.4  # the generator's ~20% churn


def test_readout_on_shadow_traffic_has_the_known_answer(world, instance):
    _, value, meta = _materialize(world, instance, world["shadow"])
    y, probs = world["y"], world["probs"]
    champion, challenger = value["arms"]["champion"], value["arms"]["challenger"]
    assert value["design"] == "paired" and value["decision"] == "better" and meta["better"] is True
    assert champion["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, probs["champion"]), abs=1e-12)
    assert challenger["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, probs["challenger"]), abs=1e-12)
    assert challenger["metrics"]["pr_auc"] == pytest.approx(average_precision_score(y, probs["challenger"]), abs=1e-12)
    assert challenger["metrics"]["roc_auc"] > champion["metrics"]["roc_auc"] + 0.05  # boosting vs one split
    assert value["difference_ci"]["roc_auc"][0] > 0
    assert (champion["customers"], challenger["outcomes"], champion["served_share"], challenger["served_share"]) == \
        (ROWS, ROWS, 1.0, 0.0)
    assert (champion["model_versions"], challenger["model_versions"]) == ([world["v1"]], [world["v2"]])
    assert meta["dagster/row_count"] == 2 * ROWS and meta["challenger_outcomes"] == ROWS
    assert meta["difference_roc_auc_ci_low"] > 0 and "challenger - champion" in meta["arms"]
    assert "data:image/png;base64," in meta["reliability"]
    assert meta["promotion"].startswith("off (CHURN_PROMOTION_BASIS=time_holdout")
    assert registry.champion_version(world["client"], world["name"]) == world["v1"]  # the gate's job, by default
    assert (world["home"] / "reports" / "experiment" / f"readout-{TODAY}.json").is_file()


def test_readout_on_ab_traffic_is_unpaired(world, instance):
    _, value, _ = _materialize(world, instance, world["ab"])
    y, in_b = world["y"], world["in_b"]
    assert value["design"] == "unpaired" and value["decision"] == "better"
    assert value["arms"]["challenger"]["customers"] == int(in_b.sum())
    assert value["arms"]["challenger"]["served_share"] == pytest.approx(in_b.mean(), abs=1e-12)
    expected = roc_auc_score(y[~in_b], world["probs"]["champion"][~in_b])
    assert value["arms"]["champion"]["metrics"]["roc_auc"] == pytest.approx(expected, abs=1e-12)


def test_no_outcomes_yet_fails_clearly(world, instance):
    yesterday = (dt.date.fromisoformat(TODAY) - dt.timedelta(days=1)).isoformat()
    result, _, _ = _materialize(world, instance, world["shadow"], day=yesterday, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"no outcomes for {yesterday} yet" in failure.step_failure_data.error.message


def test_offline_replay_gives_the_readouts_numbers(world, instance):
    from churn_assets.core.experiment.readout import outcomes_frame
    from churn_assets.core.experiment.replay import max_difference, registered_pipelines, replay_day

    _, value, _ = _materialize(world, instance, world["shadow"])
    outcomes = outcomes_frame(world["labels"], "customer_id", "churn", True)
    cfg = resources(world["settings"])["experiment"].config()
    pipes = registered_pipelines(world["uri"], world["name"], [world["v1"], world["v2"]])  # from the registry
    replayed, log = replay_day(world["shadow"], TODAY, outcomes, pipes, cfg)
    assert np.abs(log["churn_probability"] - log["logged_probability"]).max() < 1e-12
    assert max_difference(replayed, value) < 1e-9 and replayed.decision == "better"
    swapped = {world["v1"]: pipes[world["v2"]], world["v2"]: pipes[world["v1"]]}  # the check has teeth
    wrong, _ = replay_day(world["shadow"], TODAY, outcomes, swapped, cfg)
    assert wrong.decision == "not_better" and max_difference(wrong, value) == float("inf")


def test_readout_sensor_requests_each_ready_day_once(world, tmp_path):
    from churn_assets.defs.experiment.sensors import readout_requests, readout_sensor

    res = resources(world["settings"])
    res["prediction_log"] = _policy(res["prediction_log"], prediction_log_url=world["ab"])
    needed = {k: res[k] for k in ("dataset", "prediction_log", "experiment")}
    ctx = dg.build_sensor_context(resources=needed)
    first = readout_sensor(ctx)
    assert [r.partition_key for r in first] == [TODAY] and first[0].run_key == f"readout-{TODAY}"
    again = readout_sensor(dg.build_sensor_context(cursor=ctx.cursor, resources=needed))
    assert isinstance(again, dg.SkipReason)
    champion_only = f"sqlite:///{tmp_path}/single.db"
    _write(champion_only, world["records"][:20], world["probs"], [[("champion", True)]] * 20,
           {"champion": world["v1"]})
    needed["prediction_log"] = _policy(res["prediction_log"], prediction_log_url=champion_only)
    assert isinstance(readout_sensor(dg.build_sensor_context(resources=needed)), dg.SkipReason)
    requests, cursor = readout_requests('["2026-01-01"]', "2026-01-10", 3, lambda d: d != "2026-01-09",
                                        "2025-07-01")
    assert [r.partition_key for r in requests] == ["2026-01-08", "2026-01-10"]
    assert cursor == '["2026-01-08", "2026-01-10"]'  # 2026-01-01 left the lookback


def test_demo_prints_the_ab_readout(world, instance):
    from churn_assets.sim.experiment import print_readout

    lines: list[str] = []
    value = print_readout(TODAY, instance, log_url=world["ab"], settings=world["settings"], echo=lines.append)
    text = "\n".join(lines)
    assert value["decision"] == "better" and "unpaired design" in lines[0]
    assert lines[2].split()[:2] == ["champion", world["v1"]] and lines[3].split()[:2] == ["challenger", world["v2"]]
    assert "challenger - champion roc_auc: +" in text and "decision: BETTER (challenger better at 95%" in text
    assert f"{value['arms']['challenger']['metrics']['roc_auc']:.3f}" in lines[3]
    run = instance.get_runs(limit=1)[0]
    assert run.job_name == "churn_experiment" and run.tags["dagster/partition"] == TODAY
    # The run is the sensor's run of the day: the daemon dedupes its request (same sensor, same run key),
    # so opening the UI after the demo starts no readout.
    from churn_assets.defs.experiment.sensors import readout_requests

    [request], _ = readout_requests(None, TODAY, 1, lambda d: True, TODAY)
    assert (run.tags["dagster/sensor_name"], run.tags["dagster/run_key"]) == ("readout_sensor", request.run_key)


def test_the_registry_gate_defers_to_the_readout(world):
    client, name, splits = world["client"], world["name"], world["splits"]
    kw = {"holdout": splits.test, "target": "churn", "pinned": world["v1"]}
    gate = registry.decide(client, name, world["v2"], **kw)
    deferred = registry.decide(client, name, world["v2"], promotion_basis="readout", **kw)
    assert gate.promoted and not deferred.promoted
    assert deferred.challenger_score == gate.challenger_score > deferred.champion_score
    assert "promotion basis is the experiment readout" in deferred.reason
    first = registry.decide(client, name, world["v2"], holdout=splits.test, target="churn", pinned=None,
                            promotion_basis="readout")  # pinned None: no champion when the run started
    assert first.promoted  # a first model still becomes champion


def test_promotion_basis_readout_promotes_by_compare_and_set(world, instance, monkeypatch):
    client, name, v1, v2 = world["client"], world["name"], world["v1"], world["v2"]
    v3, _ = _register(client, name, world["contract"], world["splits"],
                      HistGradientBoostingClassifier(max_iter=5, random_state=1), "other")
    registry.promote(client, name, v3)  # the alias moved after the experiment started
    _, value, meta = _materialize(world, instance, world["shadow"], promotion_basis="readout")
    assert value["decision"] == "better" and meta["promotion"].startswith(f"refused: the readout compared v{v2} "
                                                                          f"with champion v{v1}")
    assert registry.champion_version(client, name) == v3
    registry.promote(client, name, v1)
    result, value, meta = _materialize(world, instance, world["shadow"], promotion_basis="readout")
    assert meta["promotion"] == f"promoted v{v2} to champion (was v{v1})"
    assert registry.champion_version(client, name) == v2
    tags = client.get_model_version(name, v2).tags
    assert tags["gate_basis"] == "readout" and tags["promoted_by"] == "experiment_readout"
    assert tags["readout_day"] == TODAY and tags["gate_decision"].startswith("challenger better at 95%")
    reported = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
                and e.asset_key == dg.AssetKey("champion_model")]
    assert len(reported) == 1
    _, _, meta = _materialize(world, instance, world["shadow"], promotion_basis="readout")
    assert meta["promotion"] == f"v{v2} is already champion"
    assert Settings().promotion_basis == "time_holdout"  # the setting's default
