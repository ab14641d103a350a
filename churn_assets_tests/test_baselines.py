"""Plain baselines: the paired bootstrap (unit), the comparison and its WARN check (constructed), and,
through the session's trained run, that the baseline figures come from exactly the tuned model's test
rows and from references fitted on its train+validation rows."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churn_assets.core.evaluation.baselines import Comparison, compare, paired_bootstrap, rows_digest
from churn_assets.defs.evaluation.assets import BASELINE_CHECK, baseline_check


def _scores(rows: int, seed: int, ties: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    a = np.clip(y * 0.35 + rng.random(rows) * 0.65, 0, 1)
    b = np.clip(y * 0.20 + rng.random(rows) * 0.80, 0, 1)
    if ties is not None:
        a, b = np.round(a, ties), np.round(b, ties)
    return y, a, b


@pytest.mark.parametrize("rows,ties", [(2000, 2), (400, None)])
def test_paired_bootstrap_equals_resampling_rows_and_scoring_both_models_with_sklearn(rows, ties):
    """Same seeded draws as a plain loop (each resample scores both models on the same rows with
    scikit-learn): the same interval, with many tied scores and with distinct ones."""
    y, a, b = _scores(rows, 3, ties)
    fast = paired_bootstrap(y, a, b, n=80, seed=7)
    gen = np.random.default_rng(7)
    draws = []
    for _ in range(80):
        idx = gen.integers(0, rows, rows)
        draws.append(roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx]))
    assert fast["resamples"] == 80
    assert fast["diff"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    assert np.allclose([fast["low"], fast["high"]], np.percentile(draws, [2.5, 97.5]), rtol=0, atol=1e-12)


def test_paired_bootstrap_is_seeded_signed_and_paired():
    y, a, b = _scores(3000, 1)
    one, again, other = (paired_bootstrap(y, a, b, n=200, seed=s) for s in (5, 5, 6))
    assert one == again and one != other
    assert 0 < one["low"] < one["diff"] < one["high"]  # a is clearly better than b
    swapped = paired_bootstrap(y, b, a, n=200, seed=5)
    assert swapped["diff"] == pytest.approx(-one["diff"]) and swapped["low"] == pytest.approx(-one["high"])
    # Paired: a model against itself differs by exactly 0 on every resample.
    assert paired_bootstrap(y, a, a.copy(), n=50, seed=5) | {"resamples": 50} == \
        {"diff": 0.0, "low": 0.0, "high": 0.0, "resamples": 50}
    # The interval of the difference is narrower than the sum of the two separate intervals' widths
    # would suggest for correlated models (a and a slightly perturbed a).
    near = a + np.random.default_rng(2).normal(0, 0.01, len(a))
    width = paired_bootstrap(y, a, near, n=200, seed=5)
    assert width["high"] - width["low"] < 0.01
    with pytest.raises(ValueError, match="aligned rows"):
        paired_bootstrap(y, a, b[:-1])


class _Fixed:
    """A stand-in Pipeline: the probability is a column of the frame."""

    def __init__(self, column: str):
        self.column = column

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = X[self.column].to_numpy(dtype=float)
        return np.c_[1 - p, p]


def _frame(rows: int = 2000) -> pd.DataFrame:
    y, a, b = _scores(rows, 4)
    return pd.DataFrame({"id": [f"C{i}" for i in range(rows)], "churn": y, "good": a, "weak": b,
                         "noise": np.random.default_rng(9).random(rows)})


def test_comparison_table_and_the_rows_it_was_computed_on():
    test = _frame()
    cmp = compare(_Fixed("good"), {"plain_a": _Fixed("weak"), "plain_b": _Fixed("noise")}, test, "churn", "id",
                  n=100, seed=1)
    assert list(cmp.table["model"]) == ["tuned", "plain_a", "plain_b"]
    assert cmp.best_baseline == "plain_a" and cmp.beats and cmp.margin > 0
    assert cmp.rows == len(test) and cmp.rows_digest == rows_digest(test["id"])
    assert rows_digest(test["id"][::-1]) != cmp.rows_digest  # the digest is of ids *in order*
    a = cmp.table.set_index("model").loc["plain_a"]
    assert a["roc_auc"] == roc_auc_score(test["churn"], test["weak"])
    assert a["tuned_minus"] == pytest.approx(cmp.margin) and a["ci_low"] < cmp.margin < a["ci_high"]
    assert "| tuned" in cmp.markdown() and "0.5" in cmp.markdown()  # rounded to 4 digits


def test_check_passes_when_the_tuned_model_beats_every_plain_baseline():
    cmp = compare(_Fixed("good"), {"plain": _Fixed("weak")}, _frame(), "churn", "id", n=50)
    res = baseline_check(cmp)
    assert res.passed and res.severity == dg.AssetCheckSeverity.WARN and res.check_name == BASELINE_CHECK


def test_check_warns_when_the_tuned_model_is_not_better():
    test = _frame()
    worse = compare(_Fixed("weak"), {"plain": _Fixed("good")}, test, "churn", "id", n=50)
    res = baseline_check(worse)
    assert not res.passed and res.severity == dg.AssetCheckSeverity.WARN
    assert "does NOT beat" in res.description and res.metadata["tuned_minus_best_baseline"].value < 0
    # A tie is not better either: a model must earn its tuning.
    tie = compare(_Fixed("good"), {"plain": _Fixed("good")}, test, "churn", "id", n=50)
    assert tie.margin == 0 and not baseline_check(tie).passed
    # The plain configuration itself shipped (the selection kept it): the warning says so.
    assert "itself shipped" not in baseline_check(tie).description
    assert "plain_hist_gradient_boosting itself shipped" in baseline_check(tie, "plain_hist_gradient_boosting").description
    none = Comparison(pd.DataFrame([{"model": "tuned", "roc_auc": 0.8}]), "", float("nan"), False, 1, "x")
    assert not baseline_check(none).passed


@pytest.mark.slow
def test_baselines_are_scored_on_exactly_the_tuned_models_test_rows(trained):
    """model_evaluation's baseline figures: the test split's ids in order, the tuned model's own
    probabilities, and references fitted on the train+validation rows through the same feature steps."""
    from churn_assets.core.evaluation.baselines import fit_plain
    from churn_assets.core.training.modeling import PLAIN

    tuned, splits, ev = trained["tuned"], trained["splits"], trained["evaluation"]
    contract = tuned.contract
    test, target = splits.test, contract.target_column
    assert set(tuned.baselines) == set(PLAIN)
    assert ev["baseline_rows_digest"] == rows_digest(test[contract.id_column])
    y = test[target].to_numpy(dtype=int)
    p = tuned.pipeline.predict_proba(test)[:, 1]
    records = {r["model"]: r for r in ev["baselines"]}
    assert records["tuned"]["roc_auc"] == ev["metrics"]["roc_auc"] == roc_auc_score(y, p)
    for name, pipe in tuned.baselines.items():
        q = pipe.predict_proba(test)[:, 1]
        assert records[name]["roc_auc"] == roc_auc_score(y, q)
        pb = paired_bootstrap(y, p, q, n=200, seed=42)  # EvaluationPolicy defaults: 200 resamples, seed 42
        assert (records[name]["tuned_minus"], records[name]["ci_low"], records[name]["ci_high"]) == \
            (pb["diff"], pb["low"], pb["high"])
        # Same feature steps as the tuned Pipeline (the very objects), fitted on train+validation.
        assert pipe[0] is tuned.pipeline[0] and pipe[1] is tuned.pipeline[1]
    both = pd.concat([splits.train, splits.val], ignore_index=True)
    X = tuned.pipeline[:-1].transform(both)
    again = fit_plain(X, both[target].to_numpy(dtype=int), tuned.pipeline[0], tuned.pipeline[1])
    for name, pipe in again.items():
        assert np.allclose(pipe.predict_proba(test)[:, 1], tuned.baselines[name].predict_proba(test)[:, 1],
                           rtol=0, atol=1e-12), name
    best = max((r for r in ev["baselines"] if r["model"] != "tuned"), key=lambda r: r["roc_auc"])
    assert ev["best_baseline"] == best["model"]
    assert ev["beats_plain_baselines"] == (records["tuned"]["roc_auc"] > best["roc_auc"])


@pytest.mark.slow
def test_the_ui_mlflow_and_the_check_show_the_comparison(trained):
    from churn_assets.core.training import tracking

    result, tuned, ev = trained["result"], trained["tuned"], trained["evaluation"]
    [mat] = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()
             if e.asset_key.to_user_string() == "model_evaluation"]
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert "| plain_hist_gradient_boosting" in meta["baselines"] and "tuned_minus" in meta["baselines"]
    assert meta["model_family"] == tuned.family and meta["selected_from"] == tuned.selected_from
    assert meta["tuned_minus_best_baseline"] == pytest.approx(ev["tuned_minus_best_baseline"])
    [check] = [e.event_specific_data for e in result.all_events
               if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == BASELINE_CHECK]
    assert check.severity == dg.AssetCheckSeverity.WARN and check.passed == ev["beats_plain_baselines"]
    run = tracking.client(trained["tracking_uri"]).get_run(ev["mlflow_run_id"])
    assert run.data.tags["beats_plain_baselines"] == str(ev["beats_plain_baselines"]).lower()
    assert run.data.metrics["baseline_plain_logistic_regression_test_roc_auc"] == pytest.approx(
        {r["model"]: r for r in ev["baselines"]}["plain_logistic_regression"]["roc_auc"])
    assert "tuned_minus_best_baseline_test_roc_auc" in run.data.metrics
    card = result.output_for_node("model_card")
    assert "## Baselines (test split)" in card and "plain_logistic_regression" in card
