"""model_evaluation: the tuned Pipeline on the untouched test split, with plots in MLflow and the UI."""


import json
from pathlib import Path

import dagster as dg
import pandas as pd

from churn_assets.core.asset_values import Splits, TunedModel
from churn_assets.defs.common.metadata import floats, image
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.common.services import SERVICE_RETRY, explains_outages

KEYS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "threshold")


@dg.asset(group_name="evaluation", kinds={"scikit-learn", "mlflow"},
          description="Test-split metrics at the chosen threshold, confusion matrix, ROC/PR/calibration/"
                      "importance plots (logged to MLflow and shown here).",
          retry_policy=SERVICE_RETRY)
@explains_outages
def model_evaluation(context: dg.AssetExecutionContext, tuned_model: TunedModel, training_splits: Splits,
                     mlflow: MlflowResource, reports: Reports) -> dg.Output[dict]:
    from churn_assets.core.evaluation import evaluate

    contract = tuned_model.contract
    ev = evaluate(tuned_model.pipeline, training_splits.test, contract.target_column,
                  tuned_model.threshold, contract.feature_columns)
    m = ev.metrics
    out_dir = reports.folder("evaluation", context.run.run_id)
    for name, png in ev.figures.items():
        (out_dir / f"{name}.png").write_bytes(png)
    (out_dir / "metrics.json").write_text(json.dumps(m, indent=1))
    with mlflow.step(context) as run_id:
        _log(m, ev.importance, out_dir)
    confusion = pd.DataFrame([[m["tn"], m["fp"]], [m["fn"], m["tp"]]], index=["actual stay", "actual churn"],
                             columns=["predicted stay", "predicted churn"]).astype(int)
    top = sorted(ev.importance.items(), key=lambda kv: -kv[1])[:10]
    context.log.info("test " + ", ".join(f"{k}={m[k]:.4f}" for k in KEYS))
    return dg.Output(
        {"metrics": m, "importance": ev.importance, "plots_dir": str(out_dir), "mlflow_run_id": run_id,
         "model_uri": tuned_model.model_uri},
        metadata={
            **floats(m, KEYS),
            "test_rows": len(training_splits.test),
            "confusion_matrix": dg.MetadataValue.md(confusion.to_markdown()),
            "top_features": dg.MetadataValue.md(pd.DataFrame(top, columns=["feature", "importance"])
                                                .to_markdown(index=False)),
            **{f"plot_{k}": image(v, k) for k, v in ev.figures.items()},
            "plots_dir": dg.MetadataValue.path(str(out_dir)),
            "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run_id)),
        },
    )


def _log(metrics: dict, importance: dict, out_dir: Path) -> None:
    import mlflow

    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    mlflow.log_dict(importance, "evaluation/importance.json")
    mlflow.log_artifacts(str(out_dir), "evaluation")
