import numpy as np
import optuna
import pytest
from sklearn.metrics import roc_auc_score

from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.sources import load_raw
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.validation import validate
from churn_assets.core.training import tuning
from churn_assets.core.training.modeling import FAMILIES, make_estimator, params_from_trial
from churn_assets.core.training.splits import split


@pytest.fixture(scope="module")
def prepared():
    spec = synthetic_spec(rows=3000)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    clean = validate(raw, contract).clean
    splits = split(clean, contract.target_column, contract.id_column)
    cfg = tuning.TuningConfig(n_trials=6, sample_rows=1500)
    return splits, contract, cfg, tuning.prepare(splits, contract, cfg)


def test_splits_are_stratified_disjoint_and_deterministic(prepared):
    splits, contract, _, _ = prepared
    sizes = splits.sizes()
    total = sum(sizes.values())
    assert abs(sizes["train"] / total - 0.70) < 0.01 and abs(sizes["test"] / total - 0.15) < 0.01
    ids = [set(s[contract.id_column]) for s in (splits.train, splits.val, splits.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    rates = [s[contract.target_column].mean() for s in (splits.train, splits.val, splits.test)]
    assert max(rates) - min(rates) < 0.01
    again = split(validate(load_raw(synthetic_spec(rows=3000)), contract).clean, "churn", "customer_id")
    assert again.test["customer_id"].tolist() == splits.test["customer_id"].tolist()


def test_split_by_positions_equals_splitting_the_frame(prepared):
    """The one-copy split (row positions split, each part taken once) gives exactly the frames that
    splitting the frame itself gives, whatever the frame's index."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    splits, contract, _, _ = prepared
    df = pd.concat([splits.train, splits.val, splits.test], ignore_index=True)
    df.index = np.random.default_rng(1).permutation(len(df)) * 3
    rest, test = train_test_split(df, test_size=0.15, stratify=df["churn"], random_state=42)
    train, val = train_test_split(rest, test_size=0.15 / 0.85, stratify=rest["churn"], random_state=42)
    ours = split(df, "churn", contract.id_column)
    for got, want in ((ours.train, train), (ours.val, val), (ours.test, test)):
        pd.testing.assert_frame_equal(got, want.reset_index(drop=True))


def test_prepared_matrix_holds_train_then_validation(prepared):
    splits, contract, _, data = prepared
    assert data.X.shape[0] == len(splits.train) + len(splits.val) and data.n_train == len(splits.train)
    assert np.array_equal(data.X_val, data.encoder.transform(data.builder.transform(splits.val)), equal_nan=True)
    assert np.array_equal(data.y_val, splits.val[contract.target_column].to_numpy())


@pytest.mark.slow
def test_study_is_reproducible_and_reports_every_fold(prepared, tmp_path):
    _, _, cfg, data = prepared
    results = []
    for name in ("a", "b"):
        study = tuning.open_study(f"sqlite:///{tmp_path}/s.db", name, seed=1)
        assert tuning.run_trials(study, data, cfg, 6) == 6
        results.append([(t.params, t.value) for t in study.trials])
        assert all(len(t.intermediate_values) >= 1 for t in study.trials)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert all(len(t.intermediate_values) == cfg.cv_folds for t in complete)
    assert results[0] == results[1]


@pytest.mark.slow
def test_pruning_stops_bad_trials(prepared, tmp_path):
    _, _, cfg, data = prepared
    study = tuning.open_study(f"sqlite:///{tmp_path}/p.db", "p", seed=3)
    tuning.run_trials(study, data, cfg, 30)
    counts = tuning.trial_counts(study)
    assert counts["total"] == 30 and counts["pruned"] >= 1
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert all(len(t.intermediate_values) < cfg.cv_folds for t in pruned)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_fits_with_imbalance_handling(prepared, family):
    _, _, _, data = prepared
    trial = optuna.trial.FixedTrial({"family": family, "lr_C": 1.0, "lr_class_weight": "balanced",
                                     "rf_n_estimators": 50, "rf_max_depth": 5, "rf_min_samples_leaf": 2,
                                     "rf_max_features": "sqrt", "rf_max_samples": 0.5,
                                     "rf_class_weight": "balanced_subsample", "hgb_learning_rate": 0.1,
                                     "hgb_max_leaf_nodes": 15, "hgb_min_samples_leaf": 20,
                                     "hgb_l2_regularization": 0.1, "hgb_max_features": 0.8})
    from churn_assets.core.training.modeling import suggest

    fam, params = suggest(trial)
    assert fam == family and params_from_trial(trial.params)[1] == params
    est = make_estimator(family, params).fit(data.X_train, data.y_train)
    if family == "hist_gradient_boosting":
        # Unweighted on purpose (sklearn 1.9's weighted binning costs 10x the fit; see modeling.py).
        assert "class_weight" not in params
        assert roc_auc_score(data.y_val, est.predict_proba(data.X_val)[:, 1]) > 0.75
    else:
        # Balanced weights lift the predicted churn share towards 50%.
        assert params["class_weight"] is not None
        assert est.predict(data.X_val).mean() > data.y_val.mean()


@pytest.mark.slow
def test_refit_on_train_and_validation(prepared, tmp_path):
    _, _, cfg, data = prepared
    study = tuning.open_study(f"sqlite:///{tmp_path}/r.db", "r", seed=1)
    tuning.run_trials(study, data, cfg, 3)
    pipe_a, fam, _ = tuning.refit_best(study, data, cfg)
    pipe_b, _, _ = tuning.refit_best(study, data, cfg, include_val=True)
    assert fam in FAMILIES
    n_a = getattr(pipe_a[-1], "n_features_in_", None)
    assert n_a == data.X_train.shape[1]
    assert not np.array_equal(pipe_a[-1].predict_proba(data.X_val), pipe_b[-1].predict_proba(data.X_val))
