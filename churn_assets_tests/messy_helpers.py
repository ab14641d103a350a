"""Small messy data sets written as real files, and the real load -> contract -> validate path."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import load_spec
from churn_assets.core.data.validation import validate


def frame(n: int = 300, seed: int = 0, positives: float = 0.3) -> pd.DataFrame:
    """A small churn table of strings, as a CSV export would hold it (not bank_churn's columns)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "acct": [f"A{i:05d}" for i in range(n)],
        "plan": rng.choice(["basic", "pro", "team"], n),
        "city": rng.choice(["Zürich", "Genève", "Köln", "Malmö"], n),
        "monthly_fee": rng.uniform(5, 50, n).round(2).astype(str),
        "tenure": rng.integers(1, 60, n).astype(str),
        "joined": pd.date_range("2022-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "left": (rng.random(n) < positives).astype(int).astype(str),
    })


def write_spec(tmp_path: Path, data: Path, extra: str = "") -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: messy\nsource: {{path: {data.name}}}\nid_column: acct\ntarget_column: left\n"
                    f"positive_label: 1\n{extra}")
    return spec


def run_core(spec_path: Path):
    """The real loading and validation code; asserts row accounting on the way."""
    spec = load_spec(spec_path)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    res = validate(raw, contract)
    assert len(res.clean) + len(res.quarantined) == res.raw_rows == len(raw)
    return raw, contract, res


def materialize_quality(instance, spec_path: Path, downstream: bool = False):
    """``dagster.materialize`` of ingest + quality (+ customer_features) with the real resources."""
    import tempfile

    from churn_assets.defs.common.dataset import DatasetResource
    from churn_assets.defs.common.labelled import LabelledStore
    from churn_assets.defs.common.predictions import PredictionsStore
    from churn_assets.defs.features.assets import customer_features
    from churn_assets.defs.ingest.assets import raw_customers
    from churn_assets.defs.quality.assets import validated_customers
    from churn_assets.defs.quality.checks import bad_row_share_within_limit, target_is_learnable
    from churn_assets.defs.quality.resources import QualityPolicy
    from churn_assets.defs.training.window import training_window
    from churn_assets.model.pseudonym import IdHashing

    assets = [raw_customers, validated_customers, bad_row_share_within_limit, target_is_learnable]
    state = tempfile.mkdtemp(prefix="messy-")
    return dg.materialize(assets + ([training_window, customer_features] if downstream else []), instance=instance,
                          resources={"dataset": DatasetResource(spec_path=str(spec_path)),
                                     "quality": QualityPolicy(max_bad_share=0.05),
                                     "labelled": LabelledStore(root=f"{state}/labelled"),
                                     "predictions_store": PredictionsStore(predictions_url=f"sqlite:///{state}/p.db"),
                                     "id_hashing": IdHashing("", state)},
                          raise_on_error=False)


def failure_message(result) -> str:
    """The one message of the failed step (a dg.Failure's description)."""
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1, [e.message for e in failures]
    err = failures[0].step_failure_data.error
    assert err.cls_name == "Failure", err.to_string()  # never a pandas exception
    return err.message.split("Failure: ", 1)[1].strip()  # the description, as the UI shows it


def accounting(result) -> tuple[pd.DataFrame, pd.DataFrame]:
    clean = result.output_for_node("validated_customers", "clean_customers")
    bad = result.output_for_node("validated_customers", "quarantined_customers")
    raw = result.output_for_node("raw_customers")
    assert len(clean) + len(bad) == len(raw)
    return clean, bad
