"""Personal columns (issue 27, first part): declared in the spec, dropped as the data is read and
found in no store afterwards; likely personal columns the spec did not declare are flagged (a WARN
check) for the user to confirm."""

import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from churn_assets.core.data.errors import DataError
from churn_assets.core.data.personal import drop_personal, guess_personal
from churn_assets_tests.telecom import telecom

BANK = Path(__file__).resolve().parents[2] / "shared" / "data" / "bank_churn.csv"
SENTINEL_SURNAME = "Zyxwvutssonqa"
SENTINEL_ID = "QX-SENTINEL-9931"


def test_the_guess_flags_names_emails_and_phones_and_nothing_else():
    frame = pd.DataFrame({"CustomerId": ["1", "2"], "Surname": ["Hargrave", "Hill"], "contact": ["a@b.io", "c@d.org"],
                          "Tel": ["+44 20 7946 0958", "(020) 7946-0000"], "Balance": [0.0, 83807.86],
                          "Geography": ["France", "Spain"], "Tenure": [2, 1], "HomeAddress": ["1 Main St", "2 High St"],
                          "customerEmail": ["x", "y"], "Plan": ["pro-2024", "basic"]})
    got = guess_personal(frame, skip=("CustomerId",))
    assert sorted(got) == ["HomeAddress", "Surname", "Tel", "contact", "customerEmail"], got
    assert "e-mail addresses" in got["contact"] and "a person's name" in got["Surname"]


def test_the_guess_is_quiet_on_the_synthetic_default():
    from churn_assets.core.data.synthetic import generate_customers

    frame = generate_customers(500, seed=1)
    assert guess_personal(frame, skip=("customer_id", "churn")) == {}


def test_the_guess_on_a_real_file_flags_the_surname_only():
    if not BANK.is_file():
        pytest.skip(f"{BANK} is not here (the shared data sets live beside the checkout)")
    frame = pd.read_csv(BANK, nrows=2000)
    assert sorted(guess_personal(frame, skip=("CustomerId", "Exited"))) == ["Surname"]


def test_a_declared_column_missing_from_the_source_is_an_error():
    frame = pd.DataFrame({"id": ["1"], "Surname": ["x"]})
    assert drop_personal(frame, ["Surname"])[1] == ["Surname"]
    with pytest.raises(DataError, match=r"pii_columns names columns that are not in the data: \['Surnme'\]"):
        drop_personal(frame, ["Surnme"], where="base.csv", strict=True)
    assert drop_personal(frame, ["Surnme"])[1] == []  # a day's batch may lack it: nothing to drop


def _holding(roots, needle: str) -> list[str]:
    return [str(p) for root in roots for p in Path(root).rglob("*")
            if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.mark.integration
def test_a_declared_surname_reaches_no_store_and_a_forgotten_customer_is_gone(tmp_path):
    """Train and score on a user's file whose `Surname` holds a sentinel: after the runs, no byte of any
    file the project wrote (instance, MLflow store and artifacts, Optuna, predictions, scoring
    batches, reports) contains it; an undeclared e-mail column is flagged by the WARN check. Then a
    customer with a sentinel id, trained on, scored and served (prediction log), is forgotten with
    `churn-assets forget`: its id is in no byte of the state afterwards, the audit names the model
    trained on it, a second forget changes nothing and a retrain on the same source leaves it out."""
    import subprocess
    import sys

    from churn_assets.core.privacy.forget import audit
    from churn_assets.local import runs
    from churn_assets.local.instance import local_instance
    from churn_assets.model.prediction_log import PredictionLog
    from churn_assets.model.pseudonym import serving_ring
    from churn_assets.model.settings import ServingSettings
    from churn_assets_tests.conftest import env_for, settings

    rng = np.random.default_rng(3)
    data = tmp_path / "data"
    (data / "batches").mkdir(parents=True)
    base = telecom(rng, 1500, "B", changed=False)
    base.insert(1, "Surname", [f"{SENTINEL_SURNAME}{i % 7}" for i in range(len(base))])
    base.insert(2, "Email", [f"customer{i}@example.org" for i in range(len(base))])
    base.loc[0, "customerID"] = SENTINEL_ID
    base.to_csv(data / "base.csv", index=False)
    day = telecom(rng, 400, "D-", changed=False).drop(columns=["Churn"])
    day.insert(1, "Surname", SENTINEL_SURNAME)
    day.loc[0, "customerID"] = SENTINEL_ID
    day.to_csv(data / "batches" / "2025-07-01.csv", index=False)
    spec = data / "telecom.yaml"
    spec.write_text("name: telecom\nsource: base.csv\nid_column: customerID\ntarget_column: Churn\n"
                    "positive_label: \"Yes\"\nas_of: 2025-06-30\npii_columns: [Surname]\ndrop_columns: [Email]\n"
                    "scoring: {path: \"batches/{date}.csv\"}\nlabels: {path: \"outcomes/{date}.csv\"}\n")
    state = tmp_path / "state"
    s = settings(home=state, dataset=str(spec), mlflow_tracking_uri=f"sqlite:///{state}/mlflow.db",
                 mlflow_artifacts=str(state / "mlartifacts"), optuna_storage=f"sqlite:///{state}/optuna.db",
                 predictions_url=f"sqlite:///{state}/predictions.db", reports_dir=state / "reports",
                 scoring_batches_dir=state / "scoring_batches", labelled_dir=state / "labelled",
                 model_name="churn-personal", card_bootstrap=0, dagster_home=state / "dagster_home",
                 retention_dir=state / "retention", labels_dir=state / "labels")
    instance = local_instance(s)
    trained = runs.train(2, instance, settings=s)
    assert trained.success
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
              for e in trained.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    flagged = checks["personal_columns_declared"]
    assert not flagged.passed and flagged.severity == dg.AssetCheckSeverity.WARN
    assert flagged.metadata["likely_personal"].value == ["Email"]  # declared Surname is gone; Email is not
    raw = {k: v.value for k, v in trained.asset_materializations_for_node("raw_customers")[-1].metadata.items()}
    assert raw["personal_columns_dropped"] == ["Surname"]
    runs.execute("churn_scoring", instance, s, partition="2025-07-01")

    assert _holding([state], SENTINEL_SURNAME) == []
    assert any(state.rglob("*.parquet")) and any((state / "mlartifacts").rglob("*"))  # the stores were written

    # The sentinel customer's outcome arrives (the loop labels the day), and it is served too: the Bento's
    # log writer with the Bento's key (the home's), read out with its outcome by the experiment readout.
    (data / "outcomes").mkdir()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    outcome = pd.DataFrame({"customerID": day["customerID"], "Churn": np.where(np.arange(len(day)) % 3, "No", "Yes")})
    outcome.to_csv(data / "outcomes" / "2025-07-01.csv", index=False)
    outcome.to_csv(data / "outcomes" / f"{today}.csv", index=False)
    runs.execute("churn_outcomes", instance, s, partition="2025-07-01")
    log_url = f"sqlite:///{state}/prediction_log.db"
    plog = PredictionLog(log_url, flush_s=0.05, pseudonyms=serving_ring("", state), id_field="customerID").start()
    for i, cid in enumerate(day["customerID"]):
        plog.append(f"r{i}", "http", "1", {"customerID": cid, "tenure": 3}, 0.4, cid)
    plog.close()
    serving = ServingSettings(home=state, prediction_log_url=log_url)
    readout = runs.execute("churn_experiment", instance, s, serving, partition=today)
    r = {k: v.value for k, v in readout.asset_materializations_for_node("experiment_readout")[-1].metadata.items()}
    assert r["champion_outcomes"] == len(day)  # the log's pseudonyms joined the outcomes' ids
    held = _holding([state], SENTINEL_ID)
    assert any("predictions.db" in p for p in held) and any("labelled" in p for p in held), held
    assert SENTINEL_ID.encode() not in (state / "prediction_log.db").read_bytes()  # a pseudonym there

    env = {**os.environ, **env_for(s, "home", "dataset", "mlflow_tracking_uri", "mlflow_artifacts",
                                   "optuna_storage", "predictions_url", "reports_dir", "scoring_batches_dir",
                                   "labelled_dir", "model_name", "dagster_home", "retention_dir", "labels_dir"),
           "CHURN_PREDICTION_LOG_URL": log_url, "DAGSTER_HOME": str(state / "dagster_home")}
    forget = [sys.executable, "-m", "churn_assets.cli", "forget", "--customer", SENTINEL_ID]
    first = subprocess.run(forget, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "forgot 1 customer(s)" in first.stdout and "churn-personal/1" in first.stdout, first.stdout
    assert _holding([state], SENTINEL_ID) == []  # every file: instance, MLflow, tables, Parquet, pickles
    again = subprocess.run(forget, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and "0 rows removed" in again.stdout, again.stdout + again.stderr[-2000:]
    rows = audit(s.predictions_url)
    assert list(rows["rows_removed"])[1] == 0 and rows["rows_removed"].iloc[0] > 0
    assert json.loads(rows["models"].iloc[0]) == ["churn-personal/1"]

    from churn_assets.definitions import build_defs  # the next retrain's first step: the source still holds them

    again_raw = build_defs(s).resolve_job_def("churn_training").execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("raw_customers")])
    raw = {k: v.value for k, v in again_raw.asset_materializations_for_node("raw_customers")[-1].metadata.items()}
    assert raw["forgotten_customers_dropped"] == 1 and raw["dagster/row_count"] == len(base) - 1
    assert _holding([state], SENTINEL_ID) == []


def test_the_request_schema_rejects_a_declared_personal_field(tmp_path):
    """A Bento built from a spec with `pii_columns` does not know the column: a request that sends it is
    refused naming the field (the service answers 422 and logs nothing of it)."""
    from pydantic import ValidationError

    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets.core.data.spec import load_spec
    from churn_assets.model.request_schema import customer_model, example_record

    frame = telecom(np.random.default_rng(5), 300, "C", changed=False)
    frame.insert(1, "Surname", "Hill")
    frame.to_csv(tmp_path / "base.csv", index=False)
    (tmp_path / "s.yaml").write_text("source: base.csv\nid_column: customerID\ntarget_column: Churn\n"
                                     "positive_label: \"Yes\"\npii_columns: [Surname]\n")
    spec = load_spec(tmp_path / "s.yaml")
    raw, _ = drop_personal(pd.read_csv(tmp_path / "base.csv", dtype=str), spec.pii_columns, strict=True)
    contract = resolve_contract(spec, raw)
    assert "Surname" not in {c.name for c in contract.columns}
    model = customer_model(contract)
    record = example_record(contract)
    model.model_validate(record)
    with pytest.raises(ValidationError) as err:
        model.model_validate({**record, "Surname": "Hill"})
    [e] = err.value.errors()
    assert e["type"] == "extra_forbidden" and e["loc"] == ("Surname",)
