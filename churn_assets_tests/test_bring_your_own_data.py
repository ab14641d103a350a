"""Bring your own data: the public bank-churn file straight from ../shared/data/."""

import os

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from churn_assets_tests.conftest import BANK_CSV, run_training, settings

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not BANK_CSV.is_file(), reason=f"{BANK_CSV} is absent (the shared data folder ships beside the repo)")]
QUALITY = ["raw_customers", "data_contract", "clean_customers", "quarantined_customers"]


def _spec(tmp_path, csv, extra=""):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: bank\nsource: {{path: {csv}}}\nid_column: CustomerId\ntarget_column: Exited\n"
                    f"positive_label: 1\n{extra}")
    return spec


def _broken_copy(tmp_path):
    """The bank file plus a date column, with one row broken per kind of fault."""
    df = pd.read_csv(BANK_CSV, dtype=str)
    df["LastContact"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(df)) % 300, "D")).strftime(
        "%Y-%m-%d")
    df.loc[10, "CreditScore"] = "six hundred"       # wrong type
    df.loc[20, "Exited"] = None                     # missing target
    df.loc[30, "Balance"] = "-1250.5"               # negative amount
    df.loc[40, "LastContact"] = "2024-13-45"        # unparseable date
    df = pd.concat([df, df.iloc[[50]]], ignore_index=True)  # duplicate id (row 10000)
    path = tmp_path / "bank_broken.csv"
    df.to_csv(path, index=False)
    return path


def _quality_run(instance, spec, isolated):
    from churn_assets.definitions import build_defs

    job = build_defs(settings(isolated, dataset=str(spec))).resolve_job_def("churn_training")
    return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(k) for k in QUALITY],
                                  raise_on_error=False)


def test_broken_rows_are_quarantined_exactly(isolated, instance, tmp_path):
    spec = _spec(tmp_path, _broken_copy(tmp_path))
    result = _quality_run(instance, spec, isolated)
    assert result.success
    bad = result.output_for_node("validated_customers", "quarantined_customers")
    clean = result.output_for_node("validated_customers", "clean_customers")
    reasons = dict(zip(bad["_row"], bad["_reason"]))
    assert set(reasons) == {10, 20, 30, 40, 10000}
    assert "CreditScore: wrong type" in reasons[10] and "six hundred" in reasons[10]
    assert "Exited: missing target" in reasons[20]
    assert "Balance: greater_than_or_equal_to(0.0)" in reasons[30]
    assert "LastContact: wrong type" in reasons[40] and "2024-13-45" in reasons[40]
    assert "duplicate id" in reasons[10000]
    assert len(clean) + len(bad) == 10001
    contract = result.output_for_node("validated_customers", "data_contract")
    roles = {c.name: c.role for c in contract.columns}
    assert roles["RowNumber"] == "drop" and roles["Surname"] == "drop" and roles["Geography"] == "categorical"
    assert roles["LastContact"] == "date"


def test_too_much_bad_data_blocks_the_run(isolated, instance, tmp_path):
    df = pd.read_csv(BANK_CSV, dtype=str)
    df.loc[df.index[:800], "Exited"] = None  # 8% missing targets > 5% limit
    path = tmp_path / "bank_bad.csv"
    df.to_csv(path, index=False)
    from churn_assets.definitions import build_defs

    s = settings(isolated, dataset=str(_spec(tmp_path, path)))
    result = build_defs(s).resolve_job_def("churn_training").execute_in_process(
        instance=instance, raise_on_error=False,
        asset_selection=[dg.AssetKey(k) for k in QUALITY + ["customer_features"]])
    assert not result.success
    check = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}["bad_row_share_within_limit"]
    assert not check.passed
    assert "800 of 10,000 rows (8.00%) quarantined" in check.description and "Exited" in check.description
    features = [e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "customer_features"]
    assert features == []  # blocked downstream


def test_bank_reaches_target_roc_auc(isolated, instance, tmp_path):
    """Acceptance: test ROC-AUC >= 0.86 on the real bank file. Ten trials: the plain configurations take
    part in the choice, so a short study reaches it too; the default 50-trial budget against the plain
    baselines, on several seeds, is measured by `make bench` (bench/quality.py), not here (5 min)."""
    spec = os.path.join(os.path.dirname(__file__), "..", "examples", "bank_churn.yaml")
    from churn_assets.core.data.spec import load_spec

    if load_spec(spec).source.path != str(BANK_CSV.resolve()):
        spec = _spec(tmp_path, BANK_CSV)
    result = run_training(instance, trials=10, settings=settings(isolated, dataset=str(spec)))
    m = result.output_for_node("model_evaluation")["metrics"]
    print(f"bank test metrics: {m}")
    assert m["roc_auc"] >= 0.86, m
