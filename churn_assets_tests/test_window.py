"""The training window policy (core/data/window.py), directly."""

import pandas as pd
import pytest

from churn_assets.core.data import window
from churn_assets.core.data.window import SOURCE, WindowPolicy


def test_days_inside_the_window_train_and_the_newest_is_held_out():
    days = ["2025-01-01", "2025-03-01", "2025-03-30", "2025-03-31", "2025-04-01"]
    w = window.select_days(days, WindowPolicy(days=31, holdout_days=1))
    assert w.skipped_days == ["2025-01-01", "2025-03-01"]  # older than 31 days before 2025-04-01
    assert w.train_days == ["2025-03-30", "2025-03-31"] and w.holdout_days == ["2025-04-01"]


def test_a_single_labelled_day_trains_and_there_is_no_time_holdout():
    w = window.select_days(["2025-07-01"], WindowPolicy())
    assert w.train_days == ["2025-07-01"] and w.holdout_days == []
    assert window.select_days([], WindowPolicy()).train_days == []


def test_the_latest_record_of_a_customer_wins():
    base = pd.DataFrame({"id": ["a", "b", "c"], "x": [1, 2, 3]})
    recent = pd.DataFrame({"id": ["b", "d", "b"], "x": [20, 40, 21], SOURCE: ["2025-07-01", "2025-07-01",
                                                                                "2025-07-02"], "extra": 1})
    rows, replaced = window.combine(base, recent, "id")
    assert replaced == 2 and sorted(rows["id"]) == ["a", "b", "c", "d"]
    assert rows.set_index("id").loc["b", "x"] == 21 and rows.set_index("id").loc["b", SOURCE] == "2025-07-02"
    assert "extra" not in rows.columns  # only the base's columns train


def test_partitions_round_trip_and_rewrite_idempotently(tmp_path):
    frame = pd.DataFrame({"id": ["a"], "y": [1]})
    window.write_partition(tmp_path, "ds", "2025-07-01", frame)
    window.write_partition(tmp_path, "ds", "2025-07-01", frame.assign(y=0))
    out = window.read_days(tmp_path, "ds", ["2025-07-01"])
    assert out.to_dict("records") == [{"id": "a", "y": 0, SOURCE: "2025-07-01"}]
    with pytest.raises(FileNotFoundError, match="2025-07-02"):
        window.read_days(tmp_path, "ds", ["2025-07-02"])


def test_holdout_usability():
    policy = WindowPolicy(min_holdout_rows=3)
    assert window.usable_holdout(pd.DataFrame({"y": [0, 1]}), "y", policy) == "2 rows < 3"
    assert window.usable_holdout(pd.DataFrame({"y": [1, 1, 1]}), "y", policy) == "one class only"
    assert window.usable_holdout(pd.DataFrame({"y": [0, 1, 1]}), "y", policy) is None
