"""Log the one Pipeline artifact to MLflow (inside an active MLflow run)."""


import tempfile

import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import infer_signature

from churn_assets.core.monitoring.drift import features_with_scores
from churn_assets.core.training.asset_values import TunedModel

# skops refuses unknown types by default (MLflow 3); these are the ones our Pipeline holds.
TRUSTED_TYPES = [
    "churn_assets.model.features.FeatureBuilder",
    "churn_assets.model.features.MatrixEncoder",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.tree._tree.Tree",
]


def pip_requirements() -> list[str]:
    # Explicit requirements: MLflow's inference re-imports the model in a subprocess (slow).
    return [f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}",
            f"mlflow=={mlflow.__version__}", "churn-assets"]


ROSTER_DIR = "roster"


def log_pipeline(model: TunedModel, example: pd.DataFrame, reference: pd.DataFrame | None = None,
                 roster: list[str] | None = None) -> str:
    """Log params, validation metrics, the data contract, the drift reference and the Pipeline.

    ``reference``: training rows whose features and scores become the drift baseline of this model
    (kept with the model, so monitoring always compares against the champion's own training data).
    Returns the model URI.
    """
    cols = model.contract.feature_columns
    X = example[cols].head(5)
    mlflow.log_params({"model_family": model.family, **{f"model_{k}": v for k, v in model.params.items()},
                       "threshold": model.threshold})
    mlflow.log_metrics({f"val_{k}": v for k, v in model.val_scores.items()}
                       | {"best_cv_score": model.best_cv_score})
    mlflow.log_text(model.contract.to_json(), "data_contract.json")
    if reference is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/features.parquet"
            features_with_scores(model.pipeline, reference).to_parquet(path)
            mlflow.log_artifact(path, "reference")
    if roster is not None:  # who the model learned from, as pseudonyms: `forget` lists the models (core/privacy)
        with tempfile.TemporaryDirectory() as tmp:
            pd.DataFrame({"pseudonym": roster}).to_parquet(f"{tmp}/pseudonyms.parquet", index=False)
            mlflow.log_artifact(f"{tmp}/pseudonyms.parquet", ROSTER_DIR)
    info = mlflow.sklearn.log_model(
        model.pipeline,
        name="model",
        signature=infer_signature(X, model.pipeline.predict_proba(X)[:, 1]),
        pyfunc_predict_fn="predict_proba",
        serialization_format="skops",
        skops_trusted_types=TRUSTED_TYPES,
        pip_requirements=pip_requirements(),
        metadata={"threshold": model.threshold, "family": model.family, "dataset": model.contract.dataset},
    )
    mlflow.set_tags({"model_family": model.family, "dataset": model.contract.dataset,
                     "selected_from": model.selected_from or "n/a"})
    if model.selection:  # the candidates of the final choice: plain configurations and the best trials
        mlflow.log_metrics({f"selection_cv_{c['source'].replace(' ', '_')}": c["cv_mean"] for c in model.selection})
    return info.model_uri
