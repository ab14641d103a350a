"""Messy files (issue 13): each a real file through the real loading and validation code.

Each case either works, with raw = clean + quarantined, or fails with ONE message naming the file,
the column and the rule (a ``DataError``; in Dagster a ``dg.Failure``), never a pandas traceback.
"""

import gzip

import pandas as pd
import pytest

from churn_assets.core.data.errors import DataError
from churn_assets_tests.messy_helpers import (
    accounting,
    failure_message,
    frame,
    materialize_quality,
    run_core,
    write_spec,
)


def _csv(tmp_path, df, name="data.csv", **kw):
    path = tmp_path / name
    df.to_csv(path, index=False, **kw)
    return path


@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1"])
def test_bom_and_latin1_are_detected(tmp_path, encoding, instance):
    df = frame()
    spec = write_spec(tmp_path, _csv(tmp_path, df, encoding=encoding))
    raw, contract, res = run_core(spec)
    assert list(raw.columns) == list(df.columns)  # no "\ufeffacct"
    assert set(raw["city"]) == {"Zürich", "Genève", "Köln", "Malmö"}
    assert res.quarantined.empty and contract.column("city").role == "categorical"
    result = materialize_quality(instance, spec)
    assert result.success
    clean, _ = accounting(result)
    assert len(clean) == len(df)
    meta = result.asset_materializations_for_node("raw_customers")[0].metadata
    assert meta["csv_dialect"].data["encoding"] == {"utf-8-sig": "utf-8-sig", "latin-1": "cp1252"}[encoding]


def test_encoding_set_in_the_spec_and_a_wrong_one_is_one_clear_error(tmp_path):
    path = _csv(tmp_path, frame(), encoding="latin-1")
    raw, _, _ = run_core(write_spec(tmp_path, path, "source: {path: data.csv, encoding: latin-1}\n"))
    assert "Zürich" in set(raw["city"])
    with pytest.raises(DataError, match=r"data\.csv: does not decode as 'utf-8'.*encoding"):
        run_core(write_spec(tmp_path, path, "source: {path: data.csv, encoding: utf-8}\n"))


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_are_sniffed_or_set(tmp_path, sep):
    df = frame()
    path = _csv(tmp_path, df, sep=sep)
    raw, contract, res = run_core(write_spec(tmp_path, path))
    assert list(raw.columns) == list(df.columns) and len(res.clean) == len(df)
    assert contract.column("monthly_fee").role == "numeric"
    spec = write_spec(tmp_path, path, f"source: {{path: data.csv, delimiter: {sep!r}}}\n".replace("'\\t'", '"\\t"'))
    assert len(run_core(spec)[2].clean) == len(df)


def test_decimal_comma_detected_or_set(tmp_path):
    df = frame()
    df["monthly_fee"] = df["monthly_fee"].str.replace(".", ",", regex=False)
    path = _csv(tmp_path, df, sep=";")
    _, contract, res = run_core(write_spec(tmp_path, path))  # ";" file, "12,5" numbers: unambiguous
    assert contract.column("monthly_fee").role == "numeric" and res.quarantined.empty
    assert res.clean["monthly_fee"].sum() == pytest.approx(frame()["monthly_fee"].astype(float).sum())
    # Set in the spec, with "." grouping thousands, inside a comma-delimited (quoted) file.
    df["monthly_fee"] = ["1.234,5"] + list(df["monthly_fee"][1:])
    path = _csv(tmp_path, df, name="comma.csv")
    _, contract, res = run_core(write_spec(tmp_path, path, "source: {path: comma.csv, decimal: ','}\n"))
    assert res.clean.loc[res.clean["acct"] == "A00000", "monthly_fee"].item() == 1234.5


def test_quoted_fields_with_embedded_newlines(tmp_path):
    df = frame()
    df.loc[::7, "plan"] = "pro\nannual, billed \"yearly\""
    path = _csv(tmp_path, df)
    assert path.read_text().count("\n") > len(df) + 1
    raw, contract, res = run_core(write_spec(tmp_path, path))
    assert len(raw) == len(df) and raw.loc[0, "plan"] == "pro\nannual, billed \"yearly\""
    assert contract.column("plan").role == "categorical" and res.quarantined.empty


def test_duplicate_column_names_are_one_error_naming_them(tmp_path, instance):
    path = tmp_path / "data.csv"
    text = frame().to_csv(index=False).replace("tenure", "plan", 1)
    path.write_text(text)
    spec = write_spec(tmp_path, path)
    with pytest.raises(DataError, match=r"data\.csv: duplicate column names in the header: \['plan'\]"):
        run_core(spec)
    result = materialize_quality(instance, spec)
    assert not result.success and "duplicate column names in the header: ['plan']" in failure_message(result)


@pytest.mark.parametrize("content,expected", [("", "the file is empty"),
                                              ("acct,plan,left\n", "no data rows (columns: acct, plan, left)")])
def test_empty_and_header_only_files(tmp_path, instance, content, expected):
    path = tmp_path / "data.csv"
    path.write_text(content)
    spec = write_spec(tmp_path, path)
    with pytest.raises(DataError, match="data.csv") as err:
        run_core(spec)
    assert expected in str(err.value)
    result = materialize_quality(instance, spec)
    message = failure_message(result)
    assert str(path) in message and expected in message


def test_target_with_three_classes_or_without_the_positive_label(tmp_path, instance):
    df = frame()
    df.loc[::3, "left"] = "2"
    spec = write_spec(tmp_path, _csv(tmp_path, df))
    with pytest.raises(DataError, match=r"data\.csv: column 'left': the target has 3 classes.*values seen: '0'"):
        run_core(spec)
    result = materialize_quality(instance, spec)
    assert "data.csv: column 'left': the target has 3 classes" in failure_message(result)
    spec = write_spec(tmp_path, _csv(tmp_path, frame()))
    spec.write_text(spec.read_text().replace("positive_label: 1", "positive_label: churned"))
    with pytest.raises(DataError, match=r"data\.csv: column 'left': positive_label 'churned' never occurs "
                                        r"\(values seen: '0' \(\d+\), '1'"):
        run_core(spec)


def test_rare_positives_work_and_warn(tmp_path, instance):
    df = frame(n=2000, positives=0.0)
    df.loc[::200, "left"] = "1"  # 10 of 2,000 = 0.5%
    spec = write_spec(tmp_path, _csv(tmp_path, df))
    result = materialize_quality(instance, spec)
    assert result.success
    clean, bad = accounting(result)
    assert len(clean) == 2000 and bad.empty and clean["left"].sum() == 10
    meta = result.asset_materializations_for_node("validated_customers")
    warnings = {m.asset_key.to_user_string(): m.metadata["warnings"].data for m in meta
                if "warnings" in m.metadata}
    assert "only 10 positives of 2,000 rows (0.50% < 1%)" in warnings["data_contract"][0]
    logs = [r.user_message for r in instance.all_logs(result.run_id) if r.level == 30]  # logging.WARNING
    assert any("only 10 positives" in m for m in logs)


def test_all_rows_bad_the_blocking_check_stops_the_run(tmp_path, instance):
    df = frame()
    df["tenure"] = "-" + df["tenure"]  # every row breaks the declared rule
    spec = write_spec(tmp_path, _csv(tmp_path, df), "checks: {tenure: {min: 0}}\n")
    result = materialize_quality(instance, spec, downstream=True)
    assert not result.success
    clean, bad = accounting(result)
    assert clean.empty and len(bad) == len(df)
    assert bad["_reason"].str.contains("tenure: greater_than_or_equal_to(0.0)", regex=False).all()
    check = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}["bad_row_share_within_limit"]
    assert not check.passed and "300 of 300 rows (100.00%) quarantined" in check.description
    assert not [e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "customer_features"]


def test_duplicate_ids_are_quarantined_with_the_rule(tmp_path, instance):
    df = frame()
    df = pd.concat([df, df.iloc[[5, 6]].assign(plan="team")], ignore_index=True)
    result = materialize_quality(instance, write_spec(tmp_path, _csv(tmp_path, df)))
    assert result.success
    clean, bad = accounting(result)
    assert list(bad["_row"]) == [300, 301] and len(clean) == 300
    assert bad["_reason"].tolist() == ["acct: duplicate id 'A00005' (first seen at row 5)",
                                       "acct: duplicate id 'A00006' (first seen at row 6)"]


def test_parquet_whose_types_disagree_with_the_contract(tmp_path, instance):
    df = frame()
    df.loc[7, "monthly_fee"] = "twelve"
    df.loc[8, "monthly_fee"] = "N/A"  # missing, not wrong
    df["tenure"] = df["tenure"].astype(int)
    df.to_parquet(tmp_path / "data.parquet")
    spec = write_spec(tmp_path, tmp_path / "data.parquet", "column_types: {monthly_fee: numeric}\n")
    _, _, res = run_core(spec)
    assert res.quarantined["_row"].tolist() == [7]
    assert "monthly_fee: wrong type, expected('float64') (value='twelve')" in res.quarantined["_reason"].item()
    assert pd.isna(res.clean.loc[res.clean["acct"] == "A00008", "monthly_fee"].item())
    # A whole column stored as numbers where the spec says date: one error naming both types.
    spec = write_spec(tmp_path, tmp_path / "data.parquet", "column_types: {tenure: date}\n")
    with pytest.raises(DataError, match=r"column 'tenure': the contract says date but the data stores int64"):
        run_core(spec)
    result = materialize_quality(instance, spec)
    assert "column 'tenure': the contract says date but the data stores int64" in failure_message(result)


def test_gzip_csv(tmp_path, instance):
    df = frame()
    path = tmp_path / "data.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        df.to_csv(f, index=False, sep=";")
    raw, _, res = run_core(write_spec(tmp_path, path))
    assert len(raw) == len(res.clean) == len(df) and list(raw.columns) == list(df.columns)
    result = materialize_quality(instance, write_spec(tmp_path, path))
    assert result.success and len(accounting(result)[0]) == len(df)


@pytest.mark.slow
def test_rare_positives_train_end_to_end(tmp_path, isolated, instance):
    """0.5% positives: the whole training job runs (splits, tuning, evaluation), not only validation."""
    from churn_assets_tests.conftest import run_training, settings

    df = frame(n=4000, positives=0.0, seed=3)
    df.loc[::200, "left"] = "1"  # 20 of 4,000
    s = settings(isolated, dataset=str(write_spec(tmp_path, _csv(tmp_path, df))))
    result = run_training(instance, trials=3, raise_on_error=False, settings=s)
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    splits = result.output_for_node("training_splits")
    positives = {k: int(getattr(splits, k)["left"].sum()) for k in ("train", "val", "test")}
    assert sum(positives.values()) == 20 and min(positives.values()) >= 1, positives  # stratified, none lost
    assert "roc_auc" in result.output_for_node("model_evaluation")["metrics"]


@pytest.mark.parametrize("name,content,expected", [
    ("data.csv", b"acct,plan,left\nA1,pro,1\nA2,pro,0,extra,fields\n",
     "cannot be parsed with delimiter ',': Error tokenizing data. C error: Expected 3 fields in line 3, saw 5"),
    ("data.csv.gz", b"not gzip at all", "cannot be read (Not a gzipped file"),
    ("data.parquet", b"PAR1 broken", "not a readable Parquet file"),
])
def test_unreadable_files_are_one_error_naming_the_file(tmp_path, instance, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    spec = write_spec(tmp_path, path)
    with pytest.raises(DataError) as err:
        run_core(spec)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value)
    message = failure_message(materialize_quality(instance, spec))
    assert message.startswith(f"{path}: ") and expected in message
