"""Personal columns (issue 27, first part): declared in the spec, dropped as the data is read and
found in no store afterwards; likely personal columns the spec did not declare are flagged (a WARN
check) for the user to confirm."""

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


@pytest.mark.integration
def test_a_declared_surname_reaches_no_store(tmp_path, instance):
    """Train and score on a user's file whose `Surname` holds a sentinel: after the runs, no byte of any
    file the project wrote (instance, MLflow store and artifacts, Optuna, predictions, scoring
    batches, reports) contains it; an undeclared e-mail column is flagged by the WARN check."""
    from churn_assets.local import runs
    from churn_assets_tests.conftest import settings

    rng = np.random.default_rng(3)
    data = tmp_path / "data"
    (data / "batches").mkdir(parents=True)
    base = telecom(rng, 1500, "B", changed=False)
    base.insert(1, "Surname", [f"{SENTINEL_SURNAME}{i % 7}" for i in range(len(base))])
    base.insert(2, "Email", [f"customer{i}@example.org" for i in range(len(base))])
    base.to_csv(data / "base.csv", index=False)
    day = telecom(rng, 400, "D-", changed=False).drop(columns=["Churn"])
    day.insert(1, "Surname", SENTINEL_SURNAME)
    day.to_csv(data / "batches" / "2025-07-01.csv", index=False)
    spec = data / "telecom.yaml"
    spec.write_text("name: telecom\nsource: base.csv\nid_column: customerID\ntarget_column: Churn\n"
                    "positive_label: \"Yes\"\nas_of: 2025-06-30\npii_columns: [Surname]\ndrop_columns: [Email]\n"
                    "scoring: {path: \"batches/{date}.csv\"}\n")
    state = tmp_path / "state"
    s = settings(home=state, dataset=str(spec), mlflow_tracking_uri=f"sqlite:///{state}/mlflow.db",
                 mlflow_artifacts=str(state / "mlartifacts"), optuna_storage=f"sqlite:///{state}/optuna.db",
                 predictions_url=f"sqlite:///{state}/predictions.db", reports_dir=state / "reports",
                 scoring_batches_dir=state / "scoring_batches", labelled_dir=state / "labelled",
                 model_name="churn-personal", card_bootstrap=0)
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

    found = []
    for root in (state, Path(instance.root_directory)):
        for path in root.rglob("*"):
            if path.is_file() and SENTINEL_SURNAME.encode() in path.read_bytes():
                found.append(str(path))
    assert found == [], found
    assert any(state.rglob("*.parquet")) and any((state / "mlartifacts").rglob("*"))  # the stores were written


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
