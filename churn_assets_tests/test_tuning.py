import dataclasses

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


# Over-fitting on a few thousand rows: fast, many leaves, little regularisation (inside the study's space).
OVERFIT_BOOSTING = {"family": "hist_gradient_boosting", "hgb_learning_rate": 0.3, "hgb_max_leaf_nodes": 64,
                    "hgb_min_samples_leaf": 10, "hgb_l2_regularization": 0.0001, "hgb_max_features": 1.0}


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
    cfg = dataclasses.replace(cfg, min_gain_se=0.0)  # strictly better on the mean is enough
    plain = {c["source"]: c for c in tuning.choose(optuna.create_study(direction="maximize"), data, cfg).candidates}
    best_plain = max(c["score"] for c in plain.values())
    for value, ships in ((best_plain + 1e-3, "trial 0"), (best_plain, max(plain, key=lambda k: plain[k]["score"]))):
        study = _one_trial_study([value] * cfg.cv_folds)
        assert tuning.choose(study, data, cfg).source == ships  # a tie goes to the plain configuration


def _one_trial_study(fold_scores):
    return _trial_study({"family": "logistic_regression", "lr_C": 0.5, "lr_class_weight": None}, fold_scores)


@pytest.mark.slow
def test_a_gain_the_folds_cannot_tell_from_noise_ships_the_plain_configuration(prepared):
    """The one-standard-error rule: the same +0.001 mean gain over the best plain configuration ships when
    it holds on every fold, and does not when it is one lucky fold among worse ones."""
    import optuna

    _, _, cfg, data = prepared
    assert cfg.min_gain_se == 1.0  # the default
    ref = max(tuning.choose(optuna.create_study(direction="maximize"), data, cfg).candidates, key=lambda c: c["score"])
    folds = np.asarray(ref["fold_scores"])
    steady = folds + 0.001
    lucky = folds + np.r_[0.021, -0.010, -0.008][: len(folds)]
    assert np.mean(lucky - folds) == pytest.approx(0.001)
    choice = tuning.choose(_one_trial_study(steady), data, cfg)
    assert choice.source == "trial 0"
    assert choice.candidates[0]["gain_vs_plain"] == pytest.approx(0.001) and choice.candidates[0]["gain_se"] < 1e-9
    choice = tuning.choose(_one_trial_study(lucky), data, cfg)
    assert choice.source == ref["source"], "a gain inside one standard error must not replace the plain model"
    trial = next(c for c in choice.candidates if c["source"] == "trial 0")
    assert trial["score"] > ref["score"] and not trial["eligible"]
    assert trial["gain_vs_plain"] == pytest.approx(0.001) and trial["gain_se"] > 0.001
    # The rule switched off: the better mean ships.
    assert tuning.choose(_one_trial_study(lucky), data, dataclasses.replace(cfg, min_gain_se=0.0)).source == "trial 0"


def _trial_study(trial_params: dict, fold_scores):
    """A study holding one finished trial of ``trial_params`` (Optuna names) with the given fold scores."""
    import optuna

    ranges = {"rf_n_estimators": (50, 150, 25), "rf_max_depth": (4, 12, 1), "rf_min_samples_leaf": (1, 50, 1)}
    dists = {"family": optuna.distributions.CategoricalDistribution(list(FAMILIES))}
    for k, v in trial_params.items():
        if k in ranges:
            lo, hi, step = ranges[k]
            dists[k] = optuna.distributions.IntDistribution(lo, hi, step=step)
        elif k != "family":
            dists[k] = (optuna.distributions.FloatDistribution(1e-4, 10.0) if isinstance(v, float)
                        else optuna.distributions.CategoricalDistribution([v]))
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(params=trial_params, distributions=dists, value=float(np.mean(fold_scores)),
                                              user_attrs={"fold_scores": list(fold_scores)}))
    return study


@pytest.mark.slow
def test_a_trial_tuned_on_a_sample_must_also_beat_plain_on_validation(prepared):
    """The trials saw 1,500 of the 2,100 training rows: a trial that wins the CV gate ships only when, fitted
    on the whole training split, it also beats the best plain configuration on the validation split."""
    import optuna

    from churn_assets.core.training.modeling import PLAIN

    _, _, cfg, data = prepared
    assert len(data.tune_index) < data.n_train and cfg.confirm_on_validation
    ref = max(tuning.choose(optuna.create_study(direction="maximize"), data, cfg).candidates, key=lambda c: c["score"])

    def val_score(family, params):
        est = make_estimator(family, params, seed=cfg.seed).fit(data.X_train, data.y_train)
        return roc_auc_score(data.y_val, est.predict_proba(data.X_val)[:, 1])

    plain_val = val_score(*PLAIN[ref["source"]])
    better_on_cv = np.asarray(ref["fold_scores"]) + 0.01  # clears the CV gate by construction
    configs = [OVERFIT_BOOSTING, WEAK_FOREST] + [{"family": "logistic_regression", "lr_C": c, "lr_class_weight": w}
                                                  for c in (1.0, 0.1, 0.01, 3.0) for w in (None, "balanced")]
    scored = [(p, val_score(*params_from_trial(p))) for p in configs]
    worse = [(p, v) for p, v in scored if v < plain_val]
    better = [(p, v) for p, v in scored if v > plain_val]
    assert worse and better, f"precondition: configurations on both sides of plain ({plain_val:.4f}): {scored}"
    # Better on the (claimed) folds, worse on validation: the plain configuration ships.
    bad, bad_val = worse[0]
    choice = tuning.choose(_trial_study(bad, better_on_cv), data, cfg)
    assert choice.source == ref["source"]
    trial = next(c for c in choice.candidates if c["source"] == "trial 0")
    assert not trial["eligible"] and trial["val_score"] == pytest.approx(bad_val)
    assert choice.candidates[0]["val_score"] == pytest.approx(plain_val)
    off = dataclasses.replace(cfg, confirm_on_validation=False)
    assert tuning.choose(_trial_study(bad, better_on_cv), data, off).source == "trial 0"
    # Better on validation too: the trial keeps its lead.
    good, good_val = better[0]
    choice = tuning.choose(_trial_study(good, better_on_cv), data, cfg)
    assert choice.source == "trial 0" and choice.candidates[0]["val_score"] == pytest.approx(good_val)


def test_paired_gain_pairs_folds_and_falls_back_to_means():
    gain, se = tuning.paired_gain([0.80, 0.82, 0.84], [0.79, 0.81, 0.83])
    assert gain == pytest.approx(0.01) and se == pytest.approx(0.0, abs=1e-12)
    gain, se = tuning.paired_gain([0.83, 0.80, 0.84], [0.80, 0.82, 0.83])
    assert gain == pytest.approx(0.02 / 3) and se == pytest.approx(np.std([0.03, -0.02, 0.01], ddof=1) / np.sqrt(3))
    assert tuning.paired_gain([0.85], [0.80, 0.82, 0.84]) == (pytest.approx(0.03), 0.0)


def test_repeated_folds_scale_with_the_tuning_rows():
    cfg = tuning.TuningConfig(cv_repeats=0)
    assert [tuning.cv_repeats_for(n, cfg) for n in (2_000, 7_000, 15_000, 1_000_000)] == [3, 3, 1, 1]
    assert tuning.cv_repeats_for(2_000, tuning.TuningConfig(cv_repeats=2)) == 2
    y = np.r_[np.zeros(700, int), np.ones(300, int)]
    folds = tuning.make_folds(np.arange(1000), y, tuning.TuningConfig(cv_folds=3, cv_repeats=2), seed=1)
    assert len(folds) == 6 and all(abs(y[te].mean() - 0.3) < 0.01 for _, te in folds)
    assert all(len(np.intersect1d(tr, te)) == 0 for tr, te in folds)
