"""Model families, their Optuna search spaces, and the one Pipeline artifact that is served."""

from __future__ import annotations

from typing import Any

import optuna
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from churn_assets.core.training.asset_values import FAMILIES
from churn_assets.model.contract import DataContract
from churn_assets.model.features import FeatureBuilder, MatrixEncoder

SMALL_DATA_ROWS = 20_000  # training splits below this get the small-data histogram-boosting space


def suggest(trial: optuna.Trial, families: tuple[str, ...] = FAMILIES, small: bool = False) -> tuple[str, dict[str, Any]]:
    """Sample a family and its hyper-parameters (names prefixed so spaces never collide).

    ``small`` (a training split under ``SMALL_DATA_ROWS``): histogram boosting searches slower learning
    rates, fewer leaves and the number of rounds itself, without early stopping (on a few thousand rows
    the internal 10% stopping split costs data and stops on noise).
    """
    family = trial.suggest_categorical("family", list(families))
    if family == "logistic_regression":
        p = {"C": trial.suggest_float("lr_C", 1e-3, 10.0, log=True),
             "class_weight": trial.suggest_categorical("lr_class_weight", [None, "balanced"])}
    elif family == "random_forest":
        p = {"n_estimators": trial.suggest_int("rf_n_estimators", 50, 150, step=25),
             "max_depth": trial.suggest_int("rf_max_depth", 4, 12),
             "min_samples_leaf": trial.suggest_int("rf_min_samples_leaf", 1, 50, log=True),
             "max_features": trial.suggest_categorical("rf_max_features", ["sqrt", "log2"]),
             "max_samples": trial.suggest_float("rf_max_samples", 0.2, 0.5),
             "class_weight": trial.suggest_categorical("rf_class_weight", [None, "balanced_subsample"])}
    elif small:
        p = {"learning_rate": trial.suggest_float("hgb_learning_rate", 0.01, 0.2, log=True),
             "max_iter": trial.suggest_int("hgb_max_iter", 100, 800, log=True),
             "max_leaf_nodes": trial.suggest_int("hgb_max_leaf_nodes", 4, 32, log=True),
             "min_samples_leaf": trial.suggest_int("hgb_min_samples_leaf", 5, 100, log=True),
             "l2_regularization": trial.suggest_float("hgb_l2_regularization", 1e-3, 10.0, log=True),
             "max_features": trial.suggest_float("hgb_max_features", 0.5, 1.0),
             "early_stopping": trial.suggest_categorical("hgb_early_stopping", [False])}
    else:
        p = {"learning_rate": trial.suggest_float("hgb_learning_rate", 0.04, 0.3, log=True),
             "max_leaf_nodes": trial.suggest_int("hgb_max_leaf_nodes", 8, 64, log=True),
             "min_samples_leaf": trial.suggest_int("hgb_min_samples_leaf", 10, 200, log=True),
             "l2_regularization": trial.suggest_float("hgb_l2_regularization", 1e-4, 10.0, log=True),
             "max_features": trial.suggest_float("hgb_max_features", 0.4, 1.0)}
        # No class_weight for HGB: in scikit-learn 1.9 any sample weight routes binning through
        # `_weighted_percentile` (~3 s per fit on 10k rows, 10x the fit itself; fixed upstream by
        # scikit-learn#34248, unreleased). ROC-AUC is rank-based, and imbalance is handled where it
        # matters for decisions: the threshold chosen on validation (and LR/RF keep class weights).
    return family, p


def params_from_trial(trial_params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Recover (family, estimator params) from a finished trial's ``params``."""
    family = trial_params["family"]
    prefix = {"logistic_regression": "lr_", "random_forest": "rf_", "hist_gradient_boosting": "hgb_"}[family]
    return family, {k[len(prefix):]: v for k, v in trial_params.items() if k.startswith(prefix)}


# Plain reference configurations: fixed, documented defaults that every training run is measured
# against (model_evaluation) and that compete in model selection on the same CV folds as the
# trials (tuning.choose), so a tuned model ships only when it beats them on the selection data.
# Logistic regression: scikit-learn's defaults (C=1, no class weight). Histogram boosting: learning
# rate 0.05, 200 rounds, 8 leaves, no early stopping (the configuration that beat the 50-trial
# study on the bank and telecom files).
PLAIN: dict[str, tuple[str, dict[str, Any]]] = {
    "plain_logistic_regression": ("logistic_regression", {"C": 1.0}),
    "plain_hist_gradient_boosting": ("hist_gradient_boosting", {"learning_rate": 0.05, "max_iter": 200,
                                                                "max_leaf_nodes": 8, "early_stopping": False}),
}

# Defaults under the tuned parameters (a parameter given in ``params`` replaces its default).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 1000},
    "random_forest": {},
    # Early stopping on an internal 10% split keeps the number of boosting rounds honest.
    "hist_gradient_boosting": {"max_iter": 300, "early_stopping": True, "validation_fraction": 0.1,
                               "n_iter_no_change": 15},
}


def make_estimator(family: str, params: dict[str, Any], seed: int = 42, n_jobs: int = 1):
    if family not in _DEFAULTS:
        raise ValueError(f"unknown model family {family!r}; known: {FAMILIES}")
    kwargs = {**_DEFAULTS[family], "random_state": seed, **params}
    if family == "logistic_regression":
        return LogisticRegression(**kwargs)
    if family == "random_forest":
        return RandomForestClassifier(n_jobs=n_jobs, **kwargs)
    return HistGradientBoostingClassifier(**kwargs)


def feature_steps(contract: DataContract) -> tuple[FeatureBuilder, MatrixEncoder]:
    builder = FeatureBuilder(
        numeric=contract.by_role("numeric"), categorical=contract.by_role("categorical"),
        dates=contract.by_role("date"), as_of=contract.as_of,
    )
    return builder, MatrixEncoder(categorical=contract.by_role("categorical"), scale=True)


def assemble(builder: FeatureBuilder, encoder: MatrixEncoder, model) -> Pipeline:
    """The single artifact: raw records in, churn probability out (steps already fitted)."""
    return Pipeline([("features", builder), ("encode", encoder), ("model", model)])
