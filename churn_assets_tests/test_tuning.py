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


# -- selection: never worse than plain ------------------------------------------------------------------
# Deliberately weak configurations inside the search space: shallow, small, heavily regularised forests.
WEAK_FOREST = {"family": "random_forest", "rf_n_estimators": 50, "rf_max_depth": 4, "rf_min_samples_leaf": 50,
               "rf_max_features": "log2", "rf_max_samples": 0.2, "rf_class_weight": None}


def _sabotaged_study(data, cfg, tmp_path, name):
    """A study whose every trial is a weak forest: the search space is restricted to random forests and
    the sampler is handed the weak configurations first (enqueued), the trials still run the real CV."""
    study = tuning.open_study(f"sqlite:///{tmp_path}/{name}.db", name, seed=1)
    for depth in (4, 5):
        study.enqueue_trial({**WEAK_FOREST, "rf_max_depth": depth})
    tuning.run_trials(study, data, cfg, 2)
    assert tuning.trial_counts(study)["complete"] == 2
    return study


@pytest.mark.slow
def test_a_study_whose_trials_are_all_worse_ships_the_plain_configuration(prepared, tmp_path):
    from churn_assets.core.training.modeling import PLAIN

    _, _, cfg, data = prepared
    cfg = tuning.TuningConfig(**{**cfg.__dict__, "families": ("random_forest",)})
    study = _sabotaged_study(data, cfg, tmp_path, "worse")
    plain_family, plain_params = PLAIN["plain_hist_gradient_boosting"]
    plain_cv = np.mean(tuning.fold_scores(plain_family, plain_params, data, cfg))
    assert all(t.value < plain_cv for t in study.trials), "precondition: every trial is worse than plain"
    choice = tuning.choose(study, data, cfg)
    assert choice.is_plain and choice.source == "plain_hist_gradient_boosting"
    assert (choice.family, choice.params) == (plain_family, plain_params)
    assert choice.cv_mean == pytest.approx(plain_cv)
    assert choice.candidates[0]["source"] == "plain_hist_gradient_boosting"  # it leads the table
    assert {c["source"] for c in choice.candidates} >= {"plain_logistic_regression", "trial 0", "trial 1"}
    pipe, family, _ = tuning.refit(choice.family, choice.params, data, cfg, include_val=True)
    est = pipe[-1]
    assert family == "hist_gradient_boosting" and est.get_params() | plain_params == est.get_params()
    # Without the plain candidates the study's best (weak) trial would have shipped.
    cfg_off = tuning.TuningConfig(**{**cfg.__dict__, "plain_candidates": False})
    assert tuning.choose(study, data, cfg_off).source == f"trial {study.best_trial.number}"


@pytest.mark.slow
def test_a_trial_ships_only_when_strictly_better_than_plain(prepared):
    import optuna

    _, _, cfg, data = prepared
    plain = {c["source"]: c for c in tuning.choose(optuna.create_study(direction="maximize"), data, cfg).candidates}
    best_plain = max(c["score"] for c in plain.values())
    params = {"family": "logistic_regression", "lr_C": 0.5, "lr_class_weight": None}
    dists = {"family": optuna.distributions.CategoricalDistribution(list(FAMILIES)),
             "lr_C": optuna.distributions.FloatDistribution(1e-3, 10.0, log=True),
             "lr_class_weight": optuna.distributions.CategoricalDistribution([None, "balanced"])}
    for value, ships in ((best_plain + 1e-3, "trial 0"), (best_plain, max(plain, key=lambda k: plain[k]["score"]))):
        study = optuna.create_study(direction="maximize")
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value,
                                                  user_attrs={"fold_scores": [value] * cfg.cv_folds}))
        assert tuning.choose(study, data, cfg).source == ships  # a tie goes to the plain configuration


def test_repeated_folds_scale_with_the_tuning_rows():
    cfg = tuning.TuningConfig(cv_repeats=0)
    assert [tuning.cv_repeats_for(n, cfg) for n in (2_000, 7_000, 15_000, 1_000_000)] == [3, 3, 1, 1]
    assert tuning.cv_repeats_for(2_000, tuning.TuningConfig(cv_repeats=2)) == 2
    y = np.r_[np.zeros(700, int), np.ones(300, int)]
    folds = tuning.make_folds(np.arange(1000), y, tuning.TuningConfig(cv_folds=3, cv_repeats=2), seed=1)
    assert len(folds) == 6 and all(abs(y[te].mean() - 0.3) < 0.01 for _, te in folds)
    assert all(len(np.intersect1d(tr, te)) == 0 for tr, te in folds)
