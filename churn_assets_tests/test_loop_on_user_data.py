"""The loop on a user's own data, run by the real dagster-daemon and driven by the CLI.

A telecom-style data set is synthesized here (not the project's generator): a base file of customers
with categoricals (contract, internet service, payment method, tech support, ...) and eight daily
batches of current customers whose outcomes arrive as files, all described by a spec with `scoring`
and `labels` templates. From the fifth day on, the churn mechanism changes (the features keep their
distribution: no data drift to see, only outcomes tell). The CLI submits ordinary runs (`train`,
`backfill`); the daemon runs them and its sensors do the rest: outcomes_sensor labels and measures
each day, retrain_sensor asks for one retrain whose window is recorded when it asks, the gate judges
on the newest day. Asserted: no pre-change day flagged, every post-change day flagged, exactly one
retrain, no failed run, no `run_failed` alert, the retrain promoted with a gain on the holdout day.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from churn_assets.local.services import stop
from churn_assets.model.settings import PROJECT_ROOT
from churn_assets_tests.telecom import telecom

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

START = dt.date(2025, 7, 1)
DAYS = [(START + dt.timedelta(days=i)).isoformat() for i in range(8)]
CHANGE_FROM = DAYS[4]  # the mechanism changes from the fifth day on
BASE_ROWS, DAY_ROWS = 2500, 500


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _cli(env: dict, *args: str) -> str:
    # The CLI's own --timeout decides; the subprocess bound only catches a CLI that ignores it.
    timeout = float(args[args.index("--timeout") + 1]) + 120 if "--timeout" in args else 600
    out = subprocess.run([sys.executable, "-m", "churn_assets.cli", *args], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"churn-assets {' '.join(args)}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def _meta(instance, key: str, day: str | None = None) -> dict:
    flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[day] if day else None)
    [rec] = instance.fetch_materializations(flt, limit=1).records
    return {k: v.value for k, v in rec.asset_materialization.metadata.items()}


def test_the_loop_on_a_telecom_file_with_the_cli_and_the_daemon(tmp_path):
    t0 = time.time()
    rng = np.random.default_rng(20250701)
    data = tmp_path / "telecom"
    (data / "batches").mkdir(parents=True)
    (data / "outcomes").mkdir()
    telecom(rng, BASE_ROWS, "B", changed=False).to_csv(data / "base.csv", index=False)
    outcomes = {}
    for i, day in enumerate(DAYS):
        batch = telecom(rng, DAY_ROWS, f"D{i}-", changed=day >= CHANGE_FROM)
        batch.drop(columns=["Churn"]).to_csv(data / "batches" / f"{day}.csv", index=False)
        outcomes[day] = batch[["customerID", "Churn"]]
    spec = data / "telecom.yaml"
    spec.write_text("name: telecom\nsource: {path: base.csv}\nid_column: customerID\ntarget_column: Churn\n"
                    "positive_label: \"Yes\"\nas_of: 2025-06-30\ncolumn_types: {SeniorCitizen: categorical}\n"
                    "scoring: {path: \"batches/{date}.csv\"}\nlabels: {path: \"outcomes/{date}.csv\"}\n")

    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHURN_", "MLFLOW_")) or k in ("CHURN_TEST_PG_URL", "CHURN_TEST_PG_ADMIN")}
    env.update({"CHURN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), "CHURN_DATASET": str(spec),
                "CHURN_SCORING_START": DAYS[0], "CHURN_WEBHOOK_URL": f"http://127.0.0.1:{server.server_port}/a",
                "CHURN_CARD_BOOTSTRAP": "0", "CHURN_BATCH_REASONS": "0", "CHURN_SERVICE_RETRIES": "1",
                "CHURN_SENSOR_INTERVAL_S": "5",
                "BENTOML_HOME": str(home / "bentoml")})
    from churn_assets.local.instance import ensure_instance_dir
    from churn_assets.model.settings import Settings

    ensure_instance_dir(Settings(home=home, dagster_home=home / "dagster_home"))
    log_path = tmp_path / "daemon.log"
    log = open(log_path, "w")
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                              cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    timings = {}
    try:
        # 1. The first model, then the eight days scored as a backfill: ordinary runs, through the queue.
        out = _cli(env, "train", "--trials", "4", "--executor", "in_process", "--wait", "--timeout", "900")
        assert "window: none" in out, out
        timings["train"] = time.time() - t0
        _cli(env, "backfill", "--from", DAYS[0], "--to", DAYS[-1], "--executor", "in_process", "--wait",
             "--timeout", "900")
        timings["backfill"] = time.time() - t0
        # 2. The outcomes of every day arrive: the daemon's sensors label, measure and retrain.
        for day, frame in outcomes.items():
            frame.to_csv(data / "outcomes" / f"{day}.csv", index=False)
        with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
            deadline, retrain = time.time() + 1200, None
            while time.time() < deadline:
                retrains = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": "retrain_sensor"}))
                if retrains and all(r.status.value in ("SUCCESS", "FAILURE", "CANCELED") for r in retrains):
                    retrain = retrains[0]
                    break
                time.sleep(2)
            assert retrain is not None, log_path.read_text()[-4000:]
            timings["retrain"] = time.time() - t0
            # One more retrain_sensor tick after the retrain ended: it must not ask for another one.
            ticks = log_path.read_text().count("Checking for new runs for sensor: retrain_sensor")
            while time.time() < deadline and \
                    log_path.read_text().count("Checking for new runs for sensor: retrain_sensor") <= ticks:
                time.sleep(2)
            time.sleep(3)
            status = _cli(env, "status", "--days", "8", "--json")
            runs = instance.get_runs()
            perf = {day: _meta(instance, "model_performance", day) for day in DAYS}
            reg = _meta(instance, "registered_model")
            window = _meta(instance, "training_data")
            retrain = instance.get_run_by_id(retrain.run_id)
    finally:
        stop(daemon)
        log.close()
        server.shutdown()
    timings["total"] = time.time() - t0
    print(f"\ntimings (s from start): {json.dumps({k: round(v) for k, v in timings.items()})}")
    for day in DAYS:
        p = perf[day]
        print(f"  {day}: n={p['day_n']} pooled={p['pooled_n']} ROC-AUC {p['roc_auc']:.3f} (drop "
              f"{p['roc_auc_drop']:+.3f} [{p['roc_auc_drop_ci_low']:+.3f}, {p['roc_auc_drop_ci_high']:+.3f}]) "
              f"F1 {p['f1']:.3f} degraded={p['degraded']}")
    print(f"  registered: {reg['decision']}")

    pre, post = [d for d in DAYS if d < CHANGE_FROM], [d for d in DAYS if d >= CHANGE_FROM]
    assert [perf[d]["degraded"] for d in pre] == [False] * len(pre), {d: perf[d]["decision"] for d in pre}
    assert [perf[d]["degraded"] for d in post] == [True] * len(post), {d: perf[d]["decision"] for d in post}
    assert all(perf[d]["roc_auc_drop_ci_low"] > perf[d]["auc_tolerance"] for d in post)

    training = [r for r in runs if r.job_name == "churn_training"]
    assert len(training) == 2, [(r.run_id[:8], r.tags) for r in training]  # the CLI's first model + one retrain
    assert retrain.status == dg.DagsterRunStatus.SUCCESS
    failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
    assert failed == [], [(r.job_name, r.run_id) for r in failed]
    assert not [a for a in _Receiver.received if a["event"] == "run_failed"]
    assert any(a["event"] == "degradation" for a in _Receiver.received)
    # The retrain's window was decided when it was asked for, and training_window read it from the tag.
    assert retrain.tags["churn/window_days"] == ",".join(DAYS)
    assert window["window_from"].startswith("run tag churn/window_days")
    assert window["labelled_days"] == DAYS[:-1]
    # Promoted on the newest (post-change) day with a gain over the stale champion.
    assert reg["promoted"] is True and reg["decided_on"] == "time_holdout", reg["decision"]
    assert reg["time_holdout_days"] == DAYS[-1:]
    assert reg["recent_challenger"] - reg["recent_champion"] > 0.05, reg
    # Runs submitted by the CLI are ordinary runs of the code location (origin: the UI lists them).
    cli_runs = [r for r in runs if r.tags.get("churn/trigger") == "cli"]
    assert len(cli_runs) == 1 + len(DAYS) and all(r.remote_job_origin is not None for r in cli_runs)
    assert len({r.tags.get("churn/backfill") for r in cli_runs if r.job_name == "churn_scoring"}) == 1
    state = json.loads(status)
    assert state["champion"] == reg["version"] and state["last_scored_day"] == DAYS[-1]
    assert state["flags"][DAYS[-1]]["degraded"] is True and state["flags"][DAYS[0]]["degraded"] is False


def test_a_moved_champion_is_judged_again_and_a_conflict_is_never_a_failure(isolated):
    """Compare-and-set at registered_model: the champion moved after the run decided. The challenger
    is judged again against the new champion: promoted if it beats it too, else it stays challenger
    with the reason; PromotionConflict never escapes."""
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets.core.data.sources import load_raw
    from churn_assets.core.data.spec import synthetic_spec
    from churn_assets.core.data.validation import validate
    from churn_assets.core.registry import model_registry as registry
    from churn_assets.core.training import tracking
    from churn_assets.core.training.splits import split
    from churn_assets_tests.test_registry import _register

    spec = synthetic_spec(rows=3000)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    splits = split(validate(raw, contract).clean, contract.target_column, contract.id_column)
    client, name = tracking.client(isolated.mlflow_tracking_uri), isolated.model_name
    target = contract.target_column
    v1 = _register(client, name, contract, splits, DummyClassifier(strategy="prior"), "dummy")
    registry.promote(client, name, v1)
    strong = _register(client, name, contract, splits, LogisticRegression(C=0.05, max_iter=500), "lr")
    weak = _register(client, name, contract, splits, HistGradientBoostingClassifier(max_iter=2, max_depth=1), "w")

    # `strong` was decided against v1; meanwhile `weak` became champion: judged again, still better.
    registry.promote(client, name, weak)
    decision, conflicts = registry.decide_and_promote(client, name, strong, splits.test, target, pinned=v1)
    assert decision.promoted and decision.champion_version == weak and registry.champion_version(client, name) == strong
    assert conflicts == [f"champion moved from v{v1} to v{weak} after this run decided; judged again against v{weak}"]
    assert "after re-judging" in decision.reason

    # `weak` decided against v1 (it beats the dummy), but `strong` is champion now: it stays challenger.
    decision, conflicts = registry.decide_and_promote(client, name, weak, splits.test, target, pinned=v1)
    assert not decision.promoted and registry.champion_version(client, name) == strong
    assert len(conflicts) == 1 and "does not beat" in decision.reason and "re-judged" in decision.reason


def test_a_challenger_identical_to_the_champion_is_not_registered(isolated, instance):
    """Same window and same config hash as the champion: registered_model registers nothing, says why,
    and the run succeeds."""
    from churn_assets.core.registry import model_registry as registry
    from churn_assets.core.training import tracking
    from churn_assets_tests.conftest import materialized, run_training

    first = run_training(instance, rows=1500, trials=2, settings=isolated)
    assert first.success and first.output_for_node("registered_model")["promoted"]
    again = run_training(instance, rows=1500, trials=2, settings=isolated)
    assert again.success
    meta = materialized(again, "registered_model")
    assert meta["registered"] is False and meta["decision"].startswith("not registered: identical")
    client = tracking.client(isolated.mlflow_tracking_uri)
    name = isolated.model_name
    assert [str(v.version) for v in client.search_model_versions(f"name='{name}'")] == ["1"]
    assert registry.champion_version(client, name) == "1"
    other = run_training(instance, rows=1500, trials=3, settings=isolated)  # another configuration: a new version
    assert other.success and materialized(other, "registered_model")["registered"] is True
