"""The predictions table is the storage of churn_predictions: drift and realized performance read
the partition back from it, aligned to the batch's customers."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from churn_assets.core import predictions


def _rows(ids, probs):
    return pd.DataFrame({"customer_id": ids, "churn_probability": probs, "will_churn": [p >= 0.5 for p in probs],
                         "risk": "low", "model_name": "m", "model_version": "1",
                         "scored_at": dt.datetime(2025, 7, 1, tzinfo=dt.UTC)})


def test_partition_round_trip_and_alignment(tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    assert predictions.replace_partition(url, "2025-07-01", _rows(["a", "b", "c"], [0.1, 0.7, 0.4])) == 3
    predictions.replace_partition(url, "2025-07-02", _rows(["a"], [0.9]))
    predictions.replace_partition(url, "2025-07-01", _rows(["c", "b", "a"], [0.41, 0.71, 0.11]))  # re-run replaces
    stored = predictions.read_partition(url, "2025-07-01")
    assert len(stored) == 3 and set(stored["partition"]) == {"2025-07-01"}
    batch_ids = pd.Series([3, 1, 2]).map({1: "a", 2: "b", 3: "c"})  # the batch's own order
    assert np.array_equal(predictions.scores_for(stored, batch_ids), [0.41, 0.11, 0.71])
    with pytest.raises(ValueError, match=r"1 customers of the batch have no stored prediction \(e.g. \['zz'\]\)"):
        predictions.scores_for(stored, pd.Series(["a", "zz"]))
