"""model_evaluation: the tuned Pipeline on the untouched test split, with plots in MLflow and the UI."""


import json
from pathlib import Path

import dagster as dg
import pandas as pd

from churn_assets.core.training.asset_values import Splits, TunedModel
from churn_assets.core.training.memory import release_memory
from churn_assets.defs.common.build import Build
from churn_assets.defs.common.metadata import floats, image
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.evaluation.resources import EvaluationPolicy

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)

KEYS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "threshold")


def _log(metrics: dict, importance: dict, out_dir: Path) -> None:
    import mlflow

    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    mlflow.log_dict(importance, "evaluation/importance.json")
    mlflow.log_artifacts(str(out_dir), "evaluation")


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(group_name="evaluation", kinds={"scikit-learn", "mlflow"}, code_version=CODE_VERSION,
              check_specs=[dg.AssetCheckSpec("roc_auc_above_floor", asset="model_evaluation",
                                             description="Test ROC-AUC is at least CHURN_MIN_ROC_AUC (red in the UI "
                                                         "when not; the run goes on: the registry gate decides).")],
              description="Test-split metrics at the chosen threshold, confusion matrix, ROC/PR/calibration/"
                          "importance plots (logged to MLflow and shown here), metrics per segment with flags.",
              retry_policy=b.retry)
    @explains_outages
    def model_evaluation(context: dg.AssetExecutionContext, tuned_model: TunedModel, training_splits: Splits,
                         mlflow: MlflowResource, reports: Reports, evaluation: EvaluationPolicy):  # value + check
        release_memory()  # the previous step's data is garbage now (core/training/memory.py)
        from churn_assets.core.evaluation.report import evaluate

        contract = tuned_model.contract
        ev = evaluate(tuned_model.pipeline, training_splits.test, contract.target_column,
                      tuned_model.threshold, contract.feature_columns, contract=contract,
                      extra_numeric=evaluation.extra_numeric())
        segments = ev.segments
        flagged = [f"{r.column}={r.segment}" for r in segments.itertuples() if r.flagged]
        m = ev.metrics
        out_dir = reports.folder("evaluation", context.run.run_id)
        for name, png in ev.figures.items():
            (out_dir / f"{name}.png").write_bytes(png)
        (out_dir / "metrics.json").write_text(json.dumps(m, indent=1))
        segments.to_csv(out_dir / "segments.csv", index=False)
        with mlflow.step(context) as run_id:
            _log(m, ev.importance, out_dir)
        confusion = pd.DataFrame([[m["tn"], m["fp"]], [m["fn"], m["tp"]]], index=["actual stay", "actual churn"],
                                 columns=["predicted stay", "predicted churn"]).astype(int)
        top = sorted(ev.importance.items(), key=lambda kv: -kv[1])[:10]
        context.log.info("test " + ", ".join(f"{k}={m[k]:.4f}" for k in KEYS))
        if flagged:
            context.log.warning(f"weak segments (ROC-AUC > 0.05 below overall): {', '.join(flagged)}")
        floor = dg.AssetCheckResult(
            check_name="roc_auc_above_floor", passed=bool(m["roc_auc"] >= evaluation.min_roc_auc),
            description=f"test ROC-AUC {m['roc_auc']:.4f} vs floor {evaluation.min_roc_auc}",
            metadata={"roc_auc": float(m["roc_auc"]), "floor": float(evaluation.min_roc_auc)})
        return dg.MaterializeResult(
            value={"metrics": m, "importance": ev.importance, "plots_dir": str(out_dir), "mlflow_run_id": run_id,
                   "model_uri": tuned_model.model_uri, "segments": segments.to_dict("records"),
                   "flagged_segments": flagged},
            check_results=[floor],
            metadata={
                **floats(m, KEYS),
                "test_rows": len(training_splits.test),
                "confusion_matrix": dg.MetadataValue.md(confusion.to_markdown()),
                "top_features": dg.MetadataValue.md(pd.DataFrame(top, columns=["feature", "importance"])
                                                    .to_markdown(index=False)),
                **{f"plot_{k}": image(v, k) for k, v in ev.figures.items()},
                "segments": dg.MetadataValue.md(segments.to_markdown(index=False) if len(segments) else "none"),
                "flagged_segments": dg.MetadataValue.json(flagged),
                "plots_dir": dg.MetadataValue.path(str(out_dir)),
                "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run_id)),
            },
        )

    return [model_evaluation]
