import datetime as dt

import numpy as np
import pandas as pd
import pytest

from churn_assets.core.data.contract_inference import encode_target, normalize_label, resolve_contract
from churn_assets.core.data.spec import DataContract, load_spec, synthetic_spec


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "row": np.arange(1, n + 1),
        "acct": rng.permutation(np.arange(10_000, 10_000 + n)),
        "name": [f"person-{i}" for i in rng.integers(0, 10_000, n)],
        "plan": rng.choice(["basic", "pro", "team"], n),
        "monthly_fee": rng.uniform(5, 50, n).round(2).astype(str),
        "delta": rng.normal(0, 1, n),
        "joined": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "left": rng.integers(0, 2, n).astype(str),
    })


def test_roles_are_inferred_and_explained(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    (tmp_path / "data.csv").write_text("x")
    spec_file.write_text("source: data.csv\nid_column: acct\ntarget_column: left\npositive_label: 1\n")
    spec = load_spec(spec_file)
    assert spec.source.kind == "file" and spec.source.path == str(tmp_path / "data.csv")
    contract = resolve_contract(spec, _frame())
    roles = {c.name: c.role for c in contract.columns}
    assert roles == {"row": "drop", "name": "drop", "plan": "categorical", "monthly_fee": "numeric",
                     "delta": "numeric", "joined": "date"}
    reasons = {c.name: c.reason for c in contract.columns}
    assert "row counter" in reasons["row"] and "free text" in reasons["name"]
    assert contract.column("monthly_fee").min == 0  # no negatives seen: ">= 0" inferred
    assert contract.column("delta").min is None  # half negative: no rule
    assert contract.as_of == "2020-07-18"  # latest date seen, when the spec gives none


def test_overrides_and_drops_win(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "source: {path: d.csv}\nid_column: acct\ntarget_column: left\nas_of: 2024-01-31\n"
        "column_types: {delta: drop, row: numeric}\ndrop_columns: [plan]\n"
        "checks: {monthly_fee: {max: 40}}\n")
    contract = resolve_contract(load_spec(spec_file), _frame())
    roles = {c.name: c.role for c in contract.columns}
    assert roles["delta"] == "drop" and roles["row"] == "numeric" and roles["plan"] == "drop"
    assert contract.column("monthly_fee").max == 40
    assert contract.as_of == "2024-01-31"


def test_clear_errors_for_a_wrong_spec(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("source: d.csv\nid_column: nope\ntarget_column: left\n")
    with pytest.raises(ValueError, match="'nope' named in the dataset spec is not in the data"):
        resolve_contract(load_spec(spec_file), _frame())
    spec_file.write_text("source: d.csv\ntarget_column: left\n")
    with pytest.raises(ValueError, match="lacks required keys: id_column"):
        load_spec(spec_file)
    spec_file.write_text("source: d.csv\nid_column: acct\ntarget_column: left\ncolumn_types: {x: text}\n")
    with pytest.raises(ValueError, match="column_types.x"):
        load_spec(spec_file)
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "missing.yaml")


def test_labels_meet_across_types():
    assert normalize_label(1) == normalize_label("1") == normalize_label(1.0) == normalize_label(True)
    y = encode_target(pd.Series(["1", "0", None, "1.0", "yes"]), 1)
    assert y.tolist()[:2] == [1.0, 0.0] and np.isnan(y[2]) and y[3] == 1.0 and y[4] == 1.0


def test_contract_round_trips_as_json():
    spec = synthetic_spec(rows=100)
    from churn_assets.core.data.sources import load_raw

    contract = resolve_contract(spec, load_raw(spec))
    again = DataContract.from_json(contract.to_json())
    assert again == contract
    assert again.by_role("date") == ["signup_date", "last_purchase_date", "last_login_date"]
    assert dt.date.fromisoformat(again.as_of) == dt.date(2025, 6, 30)


@pytest.mark.parametrize("text,expected", [
    ("id_colum: acct\n", "unknown key 'id_colum'; did you mean 'id_column'?"),
    ("source: {pth: d.csv}\n", "unknown key 'source.pth'; did you mean 'path'?"),
    ("source: {path: d.csv, delimter: ';'}\n", "unknown key 'source.delimter'; did you mean 'delimiter'?"),
    ("checks: {monthly_fee: {mn: 0}}\n", "unknown key 'checks.monthly_fee.mn'; did you mean 'min'?"),
    ("scoring: {pathh: 'b/{date}.csv'}\n", "unknown key 'scoring.pathh'; did you mean 'path'?"),
    ("null_value: [x]\n", "unknown key 'null_value'; did you mean 'null_values'?"),
    ("zzz: 1\n", "unknown key 'zzz'; known keys: name, source,"),
    ("max_missing_share: 1.5\n", "max_missing_share: Input should be less than or equal to 1"),
])
def test_spec_schema_names_the_unknown_key(tmp_path, text, expected):
    spec_file = tmp_path / "spec.yaml"
    base = "source: {path: d.csv}\nid_column: acct\ntarget_column: left\n"
    if text.startswith(("source:", "id_colum:")):
        base = "\n".join(line for line in base.splitlines() if not line.startswith(text.split(":")[0] + ":"))
        base += "\nid_column: acct\n" if text.startswith("id_colum:") else "\n"
    spec_file.write_text(base + text)
    with pytest.raises(ValueError) as err:
        load_spec(spec_file)
    assert expected in str(err.value) and str(spec_file) in str(err.value)


def test_spec_schema_accepts_every_documented_key(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "name: x\nsource: {path: d.csv.gz, encoding: latin-1, delimiter: ';', decimal: ','}\n"
        "id_column: acct\ntarget_column: left\npositive_label: churned\nas_of: 2024-01-31\n"
        "column_types: {plan: categorical}\ndrop_columns: [name]\nchecks: {fee: {min: 0, max: 99, integer: false}}\n"
        "column_le: [[a, b]]\ninfer: false\nscoring: {path: 'b/{date}.csv'}\nlabels: {url: 'sqlite://', "
        "query: 'select 1'}\nnull_values: [unknown]\nmax_missing_share: 0.8\n")
    spec = load_spec(spec_file)
    assert (spec.source.encoding, spec.source.delimiter, spec.source.decimal) == ("latin-1", ";", ",")
    assert spec.checks == {"fee": {"min": 0, "max": 99, "integer": False}}
    assert spec.as_of == dt.date(2024, 1, 31) and spec.column_le == [("a", "b")] and not spec.infer
    assert spec.scoring == {"path": str(tmp_path / "b/{date}.csv")} and spec.labels["query"] == "select 1"
    assert spec.null_values == ["unknown"] and spec.max_missing_share == 0.8
