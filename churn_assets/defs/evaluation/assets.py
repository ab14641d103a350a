"""model_evaluation: the tuned Pipeline on the untouched test split, with plots in MLflow and the UI."""


import json
from pathlib import Path

import dagster as dg
import pandas as pd

from churn_assets.core.training.asset_values import Splits, TunedModel
from churn_assets.core.training.memory import release_memory
from churn_assets.core.training.modeling import PLAIN
from churn_assets.defs.common.build import Build
from churn_assets.defs.common.metadata import floats, image
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.evaluation.resources import EvaluationPolicy

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)

KEYS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "threshold")


BASELINE_CHECK = "beats_plain_baselines"


def baseline_check(cmp, selected_from: str = "") -> dg.AssetCheckResult:
    """WARN (not an error) when the tuned model is not strictly better than the best plain baseline on
    the test split: the run goes on, the registry gate decides; a person should look at the tuning.
    ``selected_from`` (the choice's source) names the case where a plain configuration itself shipped."""
    table = cmp.markdown()
    if not cmp.best_baseline:
        return dg.AssetCheckResult(check_name=BASELINE_CHECK, passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description="no plain baseline was fitted with this model: nothing to compare",
                                   metadata={"baselines": dg.MetadataValue.md(table)})
    row = cmp.table.set_index("model").loc[cmp.best_baseline]
    verb = "beats" if cmp.beats else "does NOT beat"
    return dg.AssetCheckResult(
        check_name=BASELINE_CHECK, passed=bool(cmp.beats), severity=dg.AssetCheckSeverity.WARN,
        description=(f"tuned test ROC-AUC {cmp.table.loc[0, 'roc_auc']:.4f} {verb} the best plain baseline "
                     f"{cmp.best_baseline} {row['roc_auc']:.4f} (difference {cmp.margin:+.4f}, paired bootstrap "
                     f"95% [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}])"
                     + (f"; the plain configuration {selected_from} itself shipped: no trial beat it clearly on "
                        "the selection data (tuned_model's `selection` table says by how much)"
                        if selected_from in PLAIN else "")),
        metadata={"tuned_minus_best_baseline": float(cmp.margin), "best_baseline": cmp.best_baseline,
                  "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
                  "baselines": dg.MetadataValue.md(table)})


def baseline_metrics(cmp) -> dict[str, float]:
    """MLflow metrics of the comparison: each baseline's test ROC-AUC and the tuned model's difference."""
    out: dict[str, float] = {}
    for r in cmp.records():
        if r["model"] == "tuned":
            continue
        name = r["model"]
        out |= {f"baseline_{name}_test_roc_auc": r["roc_auc"], f"baseline_{name}_test_pr_auc": r["pr_auc"],
                f"tuned_minus_{name}_test_roc_auc": r["tuned_minus"]}
        out |= {f"tuned_minus_{name}_ci_{side}": r[f"ci_{side}"] for side in ("low", "high") if r[f"ci_{side}"] == r[f"ci_{side}"]}
    if cmp.best_baseline:
        out["tuned_minus_best_baseline_test_roc_auc"] = cmp.margin
    return out


def params_summary(params: dict) -> str:
    return ", ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in params.items()) or "defaults"


def _log(metrics: dict, importance: dict, out_dir: Path, cmp=None) -> None:
    import mlflow

    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    if cmp is not None:
        mlflow.log_metrics(baseline_metrics(cmp))
        mlflow.set_tags({"beats_plain_baselines": str(cmp.beats).lower(), "best_plain_baseline": cmp.best_baseline,
                         "baseline_rows_digest": cmp.rows_digest})
    mlflow.log_dict(importance, "evaluation/importance.json")
    mlflow.log_artifacts(str(out_dir), "evaluation")


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(group_name="evaluation", kinds={"scikit-learn", "mlflow"}, code_version=CODE_VERSION,
              check_specs=[dg.AssetCheckSpec("roc_auc_above_floor", asset="model_evaluation",
                                             description="Test ROC-AUC is at least CHURN_MIN_ROC_AUC (red in the UI "
                                                         "when not; the run goes on: the registry gate decides)."),
                          dg.AssetCheckSpec(BASELINE_CHECK, asset="model_evaluation",
                                            description="The tuned model's test ROC-AUC is strictly above every plain "
                                                        "baseline's (same test rows; WARN when not).")],
              description="Test-split metrics at the chosen threshold, confusion matrix, ROC/PR/calibration/"
                          "importance plots (logged to MLflow and shown here), metrics per segment with flags, "
                          "and the tuned model against plain baselines on the same test rows (paired bootstrap).",
              retry_policy=b.retry)
    @explains_outages
    def model_evaluation(context: dg.AssetExecutionContext, tuned_model: TunedModel, training_splits: Splits,
                         mlflow: MlflowResource, reports: Reports, evaluation: EvaluationPolicy):  # value + check
        release_memory()  # the previous step's data is garbage now (core/training/memory.py)
        from churn_assets.core.evaluation.baselines import compare
        from churn_assets.core.evaluation.model_card import segments_table
        from churn_assets.core.evaluation.report import evaluate

        contract = tuned_model.contract
        ev = evaluate(tuned_model.pipeline, training_splits.test, contract.target_column,
                      tuned_model.threshold, contract.feature_columns, contract=contract,
                      extra_numeric=evaluation.extra_numeric())
        # Plain baselines on the same test rows (same ids, same order) as the tuned model's figures above.
        cmp = compare(tuned_model.pipeline, getattr(tuned_model, "baselines", {}) or {}, training_splits.test,
                      contract.target_column, contract.id_column, n=evaluation.bootstrap or 0, seed=evaluation.seed,
                      p_tuned=ev.probabilities)
        segments = ev.segments
        flagged = [f"{r.column}={r.segment}" for r in segments.itertuples() if r.flagged]
        m = ev.metrics
        out_dir = reports.folder("evaluation", context.run.run_id)
        for name, png in ev.figures.items():
            (out_dir / f"{name}.png").write_bytes(png)
        (out_dir / "metrics.json").write_text(json.dumps(m, indent=1))
        cmp.table.to_csv(out_dir / "baselines.csv", index=False)
        segments.to_csv(out_dir / "segments.csv", index=False)
        with mlflow.step(context) as run_id:
            _log(m, ev.importance, out_dir, cmp)
        confusion = pd.DataFrame([[m["tn"], m["fp"]], [m["fn"], m["tp"]]], index=["actual stay", "actual churn"],
                                 columns=["predicted stay", "predicted churn"]).astype(int)
        top = sorted(ev.importance.items(), key=lambda kv: -kv[1])[:10]
        context.log.info("test " + ", ".join(f"{k}={m[k]:.4f}" for k in KEYS))
        if not cmp.beats:
            context.log.warning(f"the tuned model does not beat the best plain baseline {cmp.best_baseline or '(none)'}: "
                                f"test ROC-AUC difference {cmp.margin:+.4f}")
        if flagged:
            context.log.warning(f"weak segments (ROC-AUC > 0.05 below overall): {', '.join(flagged)}")
        floor = dg.AssetCheckResult(
            check_name="roc_auc_above_floor", passed=bool(m["roc_auc"] >= evaluation.min_roc_auc),
            description=f"test ROC-AUC {m['roc_auc']:.4f} vs floor {evaluation.min_roc_auc}",
            metadata={"roc_auc": float(m["roc_auc"]), "floor": float(evaluation.min_roc_auc)})
        return dg.MaterializeResult(
            value={"metrics": m, "importance": ev.importance, "plots_dir": str(out_dir), "mlflow_run_id": run_id,
                   "model_uri": tuned_model.model_uri, "segments": segments.to_dict("records"),
                   "flagged_segments": flagged, "baselines": cmp.records(), "best_baseline": cmp.best_baseline,
                   "tuned_minus_best_baseline": cmp.margin, "beats_plain_baselines": cmp.beats,
                   "baseline_rows_digest": cmp.rows_digest},
            check_results=[floor, baseline_check(cmp, getattr(tuned_model, "selected_from", "") or "")],
            metadata={
                "describes": f"the challenger trained in run {context.run.run_id[:8]} (its registry version and "
                             "role: registered_model and model_card of the same run)",
                **floats(m, KEYS),
                "test_rows": len(training_splits.test),
                "model_family": tuned_model.family,
                "tuned_params": params_summary(tuned_model.params),
                "selected_from": getattr(tuned_model, "selected_from", "") or "n/a",
                "baselines": dg.MetadataValue.md(cmp.markdown()),
                "best_baseline": cmp.best_baseline or "none",
                "tuned_minus_best_baseline": float(cmp.margin),
                "baseline_rows_digest": cmp.rows_digest,
                "confusion_matrix": dg.MetadataValue.md(confusion.to_markdown()),
                "top_features": dg.MetadataValue.md(pd.DataFrame(top, columns=["feature", "importance"]).round(4)
                                                    .to_markdown(index=False)),
                **{f"plot_{k}": image(v, k) for k, v in ev.figures.items()},
                "segments": dg.MetadataValue.md(segments_table(segments).to_markdown(index=False)
                                                if len(segments) else "none"),
                "flagged_segments": dg.MetadataValue.json(flagged),
                "plots_dir": dg.MetadataValue.path(str(out_dir)),
                "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run_id)),
            },
        )

    return [model_evaluation]
