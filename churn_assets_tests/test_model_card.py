"""model_card and segment metadata through the real training job (real Dagster instance, real MLflow
store) on small synthetic data."""

import numpy as np
import pytest

from churn_assets.core.evaluation.model_card import bootstrap_ci
from churn_assets.core.training import tracking
from churn_assets_tests.conftest import run_training


def _meta(result, key):
    [e] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return e.event_specific_data.materialization.metadata


@pytest.mark.slow
def test_model_card_in_the_training_job(isolated, instance, capsys):
    result = run_training(instance, rows=2500, trials=3, settings=isolated)
    assert result.success
    card = result.output_for_node("model_card")
    meta = _meta(result, "model_card")
    for section in ("## Data", "## Features", "## Training", "## Metrics (test split)", "## Segments",
                    "## Threshold policy", "## Known limits"):
        assert section in card, section
    tuned = result.output_for_node("tuned_model")
    splits = result.output_for_node("training_splits")
    assert f"Family **{tuned.family}**" in card and f"{tuned.threshold:.4f}" in card
    assert f"test {len(splits.test):,}" in card and "as-of date 2025-06-30" in card
    assert "customer_lifetime_months" in card  # the tenure-like bucket rows of the segment table
    # Linked in the UI: the Markdown itself, a file path, the MLflow run; and logged to MLflow.
    assert meta["card"].value == card
    with open(meta["card_path"].value) as fh:
        assert fh.read() == card
    reg = result.output_for_node("registered_model")
    client = tracking.client(isolated.mlflow_tracking_uri)
    run_id = result.output_for_node("model_evaluation")["mlflow_run_id"]
    assert [a.path for a in client.list_artifacts(run_id, "model_card")] == ["model_card/model_card.md"]
    # MLflow reads like the UI: the run, its trials and the version have descriptions; counts are integers.
    note = client.get_run(run_id).data.tags["mlflow.note.content"]
    assert result.run_id in note and "churn_training" in note and f"v{reg['version']}: promoted to champion" in note
    trials = client.search_runs([client.get_run(run_id).info.experiment_id],
                                f"tags.`mlflow.parentRunId` = '{run_id}'")
    assert trials and all(t.data.tags["mlflow.note.content"].startswith("Optuna trial ") for t in trials)
    version = client.get_model_version(reg["name"], reg["version"])
    assert tuned.family in version.description and "Gate: promoted to champion" in version.description
    assert version.tags["training_rows"] == str(len(splits.train) + len(splits.val))
    assert not [k for k, v in version.tags.items() if v.endswith(".0")], version.tags
    assert len(version.tags) <= 20, sorted(version.tags)
    # Seeded bootstrap: the card's interval is reproducible and contains the point estimate.
    p = tuned.pipeline.predict_proba(splits.test)[:, 1]
    y = splits.test["churn"].to_numpy(dtype=int)
    lo, hi = bootstrap_ci(y, p, tuned.threshold, n=200, seed=42)["roc_auc"]
    assert (meta["roc_auc_ci_low"].value, meta["roc_auc_ci_high"].value) == (round(lo, 4), round(hi, 4))
    assert f"[{lo:.4f}, {hi:.4f}]" in meta["intervals"].value
    # It says which registry version it describes and what the gate made of it (the first: champion).
    assert meta["model_version"].value == reg["version"] and meta["role"].value.startswith("champion")
    assert f"v{reg['version']}**, champion" in card
    # The quarantine reasons are a table of their own lines, not pipes run together on one line.
    [reasons_line] = [ln for ln in card.splitlines() if ln.startswith("- quarantine reasons:")]
    assert "|" not in reasons_line
    auc = result.output_for_node("model_evaluation")["metrics"]["roc_auc"]
    assert lo < auc < hi and hi - lo < 0.2
    # Segment metadata on model_evaluation.
    ev_meta = _meta(result, "model_evaluation")
    assert "customer_lifetime_months" in ev_meta["segments"].value
    assert isinstance(ev_meta["flagged_segments"].value, list)
    # `make demo` prints one explained customer and the card's path.
    from churn_assets.sim.demo import print_explained

    capsys.readouterr()
    print_explained(result, tuned)
    out = capsys.readouterr().out
    assert out.count(":+") + out.count(":-") >= 3 and "top reasons:" in out
    assert f"model card   {meta['card_path'].value}" in out


def test_bootstrap_is_seeded_and_narrows_with_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    p = np.clip(y * 0.3 + rng.random(4000) * 0.7, 0, 1)
    a, b = bootstrap_ci(y, p, 0.5, n=100, seed=1), bootstrap_ci(y, p, 0.5, n=100, seed=1)
    assert a == b
    small = bootstrap_ci(y[:400], p[:400], 0.5, n=100, seed=1)
    assert (small["roc_auc"][1] - small["roc_auc"][0]) > (a["roc_auc"][1] - a["roc_auc"][0])


@pytest.mark.parametrize("rows,decimals", [(3000, 2), (500, 12)])
def test_bootstrap_equals_resampling_rows_and_scoring_each_resample_with_sklearn(rows, decimals):
    """The counts-over-one-sort bootstrap gives the same intervals as the plain loop it replaces
    (same seeded draws, each resample scored by scikit-learn): with many tied scores, and with
    distinct scores of which a resample misses many."""
    from churn_assets.core.evaluation.model_card import CI_METRICS
    from churn_assets.core.training.metrics import classification_metrics

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, rows)
    p = np.round(np.clip(y * 0.25 + rng.random(rows) * 0.75, 0, 1), decimals)
    fast = bootstrap_ci(y, p, 0.4, n=60, seed=7)
    draws = {k: [] for k in CI_METRICS}
    gen = np.random.default_rng(7)
    for _ in range(60):
        idx = gen.integers(0, len(y), len(y))
        m = classification_metrics(y[idx], p[idx], 0.4)
        for k in CI_METRICS:
            draws[k].append(m[k])
    for k in CI_METRICS:
        assert np.allclose(fast[k], (np.percentile(draws[k], 2.5), np.percentile(draws[k], 97.5)), rtol=0, atol=1e-12), k


def test_card_has_the_baselines_and_warns_when_tuning_did_not_pay():
    """The card's Baselines section (4 digits) and a known limit when a plain baseline is as good."""
    import pandas as pd

    from churn_assets.core.evaluation.model_card import CardFacts, known_limits, render

    def facts(tuned_auc: float) -> CardFacts:
        baselines = pd.DataFrame([
            {"model": "tuned", "roc_auc": tuned_auc, "pr_auc": 0.6, "tuned_minus": 0.0, "ci_low": 0.0, "ci_high": 0.0},
            {"model": "plain_hist_gradient_boosting", "roc_auc": 0.86451234, "pr_auc": 0.61,
             "tuned_minus": tuned_auc - 0.86451234, "ci_low": -0.01, "ci_high": 0.01}])
        return CardFacts(model_name="m", dataset="d", source="s", as_of="", rows={"test": 5000},
                         quarantine_reasons="", features=pd.DataFrame({"column": ["a"], "role": ["numeric"]}),
                         family="hist_gradient_boosting", params={"learning_rate": 0.05}, families=["x"],
                         trials={"complete": 1}, best_cv=0.8, threshold=0.3, threshold_strategy="f1",
                         metrics={"roc_auc": tuned_auc}, ci={}, bootstrap=0,
                         segments=pd.DataFrame(columns=["column", "segment", "rows", "flagged"]), importance={"a": 0.1},
                         baselines=baselines, selected_from="plain_hist_gradient_boosting")

    card = render(facts(0.87))
    assert "## Baselines (test split)" in card and "0.8645 " in card and "0.86451234" not in card
    assert "chosen from: plain_hist_gradient_boosting" in card
    assert not any("not better than the plain baseline" in x for x in known_limits(facts(0.87)))
    assert any("not better than the plain baseline plain_hist_gradient_boosting" in x
               for x in known_limits(facts(0.8645)))
