"""model_card: a registered model version on one Markdown page (Dagster UI metadata, a file, an MLflow
artifact). It runs after the gate, so the page says which version it describes and what became of it."""

import dagster as dg
import pandas as pd

from churn_assets.core.training.asset_values import FAMILIES, Splits, TunedModel
from churn_assets.core.training.memory import release_memory
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.registry.policy import CardPolicy

CODE_VERSION = "3"  # bump by hand when what the model card computes changes (defs/common/policies.py)


def _latest(context: dg.AssetExecutionContext, key: str) -> dict:
    """Metadata values of an upstream asset's latest materialization (empty if none)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(key))
    if event is None or event.asset_materialization is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _run_tuning_config(context: dg.AssetExecutionContext) -> dict:
    """The tuned_model config of this run (families, threshold strategy), when the run set one."""
    ops = (context.run.run_config or {}).get("ops", {})
    return (ops.get("tuned_model") or {}).get("config") or {}


def role(registered: dict) -> str:
    """What became of this run's model at the gate, in words."""
    if not registered.get("registered", True):
        return f"not registered: {registered.get('reason', '')}"
    if registered.get("promoted"):
        return f"champion (promoted: {registered.get('reason', '')})"
    return f"challenger, not promoted ({registered.get('reason', '')}); the champion is v{registered.get('champion_version')}"


@dg.asset(group_name="registry", kinds={"markdown", "mlflow"}, code_version=CODE_VERSION,
          description="Model card of the version this run registered, with its role after the gate (champion or "
                      "challenger): data (source, rows, quarantine, as-of), features, training (families, trials, "
                      "parameters), test metrics with bootstrap intervals, segments, threshold policy, known limits.")
def model_card(context: dg.AssetExecutionContext, tuned_model: TunedModel, model_evaluation: dict,
               registered_model: dict, training_splits: Splits, dataset: DatasetResource, mlflow: MlflowResource,
               reports: Reports, card_policy: CardPolicy) -> dg.Output[str]:
    release_memory()  # the previous step's data is garbage now (core/training/memory.py)
    from churn_assets.core.data.contract_inference import source_name
    from churn_assets.core.evaluation.model_card import CardFacts, bootstrap_ci, metrics_table, render

    contract = tuned_model.contract
    test = training_splits.test
    y = test[contract.target_column].to_numpy(dtype=int)
    p = tuned_model.pipeline.predict_proba(test)[:, 1]
    ci = bootstrap_ci(y, p, tuned_model.threshold, n=card_policy.bootstrap, seed=card_policy.seed) \
        if card_policy.bootstrap else {}
    clean, quarantine, tuned = (_latest(context, k) for k in ("clean_customers", "quarantined_customers",
                                                               "tuned_model"))
    sizes = training_splits.sizes()
    facts = CardFacts(
        model_name=mlflow.model_name, dataset=contract.dataset, source=source_name(dataset.spec()),
        as_of=contract.as_of,
        rows={"raw": int(clean.get("raw_rows", 0)), "clean": int(clean.get("dagster/row_count", 0)),
              "quarantined": int(clean.get("quarantined_rows", 0)), **sizes},
        quarantine_reasons=str(quarantine.get("reasons", "")) if quarantine else "",
        features=pd.DataFrame([{"column": c.name, "role": c.role, "why": c.reason} for c in contract.columns]),
        family=tuned_model.family, params=tuned_model.params,
        families=list(_run_tuning_config(context).get("families", FAMILIES)),
        trials=tuned_model.trials, best_cv=tuned_model.best_cv_score, threshold=tuned_model.threshold,
        threshold_strategy=str(tuned.get("threshold_strategy")
                                                   or _run_tuning_config(context).get("threshold_strategy", "f1")), metrics=model_evaluation["metrics"],
        ci=ci, bootstrap=card_policy.bootstrap, segments=pd.DataFrame(model_evaluation.get("segments", [])),
        importance=model_evaluation["importance"],
        mlflow_run=mlflow.run_url(model_evaluation["mlflow_run_id"]) if model_evaluation.get("mlflow_run_id") else "",
        baselines=pd.DataFrame(model_evaluation.get("baselines", [])),
        selected_from=getattr(tuned_model, "selected_from", ""),
        version=str(registered_model.get("version") or ""), role=role(registered_model),
    )
    card = render(facts)
    path = reports.folder("model_card", context.run.run_id) / "model_card.md"
    path.write_text(card)
    with mlflow.step(context) as run_id:
        import mlflow as mlf

        mlf.log_artifact(str(path), "model_card")
        mlf.log_metrics({f"test_{k}_ci_{side}": v for k, (lo, hi) in ci.items()
                         for side, v in (("low", lo), ("high", hi)) if v == v})
    return dg.Output(card, metadata={
        "model_version": str(registered_model.get("version") or "none"),
        "role": role(registered_model),
        "card": dg.MetadataValue.md(card),
        "card_path": dg.MetadataValue.path(str(path)),  # not "path": the IO manager sets that one
        "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run_id)),
        "mlflow_artifact": f"runs:/{run_id}/model_card/model_card.md",
        "flagged_segments": dg.MetadataValue.json(model_evaluation.get("flagged_segments", [])),
        "intervals": dg.MetadataValue.md(metrics_table(model_evaluation["metrics"], ci).to_markdown(index=False)),
        **{f"{k}_ci_low": round(lo, 4) for k, (lo, _) in ci.items()},
        **{f"{k}_ci_high": round(hi, 4) for k, (_, hi) in ci.items()},
    })
