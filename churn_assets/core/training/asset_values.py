"""The values passed between assets. Kept free of heavy imports (sklearn, mlflow, optuna) so the
Dagster code location loads fast: every step process of the multiprocess and Kubernetes
executors imports it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from churn_assets.model.contract import DataContract

FAMILIES = ("logistic_regression", "random_forest", "hist_gradient_boosting")


@dataclass
class Splits:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


@dataclass
class TunedModel:
    pipeline: object  # the fitted sklearn Pipeline: features -> encode -> model
    family: str
    params: dict
    threshold: float
    contract: DataContract
    val_scores: dict[str, float]
    study_name: str
    best_cv_score: float
    trials: dict[str, int] = field(default_factory=dict)
    mlflow_run_id: str = ""
    model_uri: str = ""
    # Plain reference Pipelines (core.training.modeling.PLAIN) fitted on the same rows as ``pipeline``
    # (train+validation when refitted on both), through the same fitted feature steps: model_evaluation
    # scores them on the same test rows.
    baselines: dict = field(default_factory=dict)
    selected_from: str = ""  # "trial <n>" or the name of the plain configuration that won the choice
    selection: list = field(default_factory=list)  # the candidates of the choice, best first (tuning.choose)
