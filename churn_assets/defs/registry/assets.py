"""registered_model: a new registry version (challenger) and the champion/challenger gate."""

import dagster as dg
import pandas as pd

from churn_assets.core.training.asset_values import Splits, TunedModel
from churn_assets.core.training.memory import release_memory
from churn_assets.defs.common.build import Build
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.registry.policy import PromotionPolicy

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)

# The loop is a cycle (champion -> scoring -> outcomes -> training window -> registered_model ->
# champion) and a Dagster asset graph is a DAG: it is cut at the registry alias. `champion_model` is
# an external asset; registered_model reports a materialization of it whenever it moves the alias.
champion_model = dg.AssetSpec(
    "champion_model", group_name="registry", kinds={"mlflow"},
    description="The MLflow registry alias `champion`: what scoring, drift and outcomes use. Materialized by "
                "registered_model on promotion (and by `churn-assets rollback` in the registry only).")


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(group_name="registry", kinds={"mlflow"}, code_version=CODE_VERSION,
              description="Registers the tuned Pipeline (alias `challenger`); promotes it to `champion` only if it beats "
                          "the champion pinned at the start of the run by the configured margin on data neither trained "
                          "on: the time holdout when there is one, else the test split. Refuses a champion of another "
                          "data contract; promotion is a compare-and-set.",
              retry_policy=b.retry)
    @explains_outages
    def registered_model(context: dg.AssetExecutionContext, tuned_model: TunedModel, model_evaluation: dict,
                         training_splits: Splits, time_holdout: pd.DataFrame, mlflow: MlflowResource,
                         promotion: PromotionPolicy, notifier: Notifier) -> dg.Output[dict]:
        release_memory()  # the previous step's data is garbage now (core/training/memory.py)
        from churn_assets.core.data.window import SOURCE
        from churn_assets.core.registry import model_registry as registry

        client, name = mlflow.client(), mlflow.model_name
        pinned = mlflow.pinned_champion(context)
        target = tuned_model.contract.target_column
        trained_on = pd.concat([training_splits.train, training_splits.val])
        sources = trained_on[SOURCE].value_counts().sort_index().to_dict() if SOURCE in trained_on else {"base": len(trained_on)}
        days = sorted(k for k in sources if k != "base")
        holdout_days = sorted(time_holdout[SOURCE].unique()) if SOURCE in time_holdout and len(time_holdout) else []
        with mlflow.step(context) as run_id:
            version = registry.register(client, name, tuned_model.model_uri, tuned_model.mlflow_run_id, tags={
                "dagster_run_id": context.run.run_id, "family": tuned_model.family,
                "threshold": tuned_model.threshold, "dataset": tuned_model.contract.dataset,
                "training_rows": len(trained_on), "training_base_rows": sources.get("base", 0),
                "training_days": ",".join(days) or "none", "time_holdout_days": ",".join(holdout_days) or "none",
                **{f"test_{k}": round(v, 6) for k, v in model_evaluation["metrics"].items()},
            })
            try:
                decision = registry.decide(client, name, version, training_splits.test, target, promotion.metric,
                                           promotion.margin, recent=time_holdout, pinned=pinned,
                                           promotion_basis=promotion.basis)
            except registry.ContractMismatch as err:
                client.set_model_version_tag(name, version, "gate_decision", f"refused: {err}")
                raise dg.Failure(str(err), allow_retries=False) from err
            for key, value in decision.tags().items():
                client.set_model_version_tag(name, version, key, value)
            if decision.promoted:
                try:
                    registry.promote(client, name, version, expected=pinned)
                except registry.PromotionConflict as err:
                    client.set_model_version_tag(name, version, "gate_decision", f"not promoted: {err}")
                    raise dg.Failure(str(err), allow_retries=False) from err
        champion = registry.champion_version(client, name)
        if decision.promoted:
            context.log_event(dg.AssetMaterialization("champion_model", metadata={
                "model_name": name, "version": version, "previous": pinned or "none", "reason": decision.reason}))
        verdict = "promoted to champion" if decision.promoted else "stays challenger"
        context.log.info(f"{name} v{version} {verdict}: {decision.reason}")
        notifier.send("promotion" if decision.promoted else "not_promoted",
                      f"{name} v{version} {verdict}", reason=decision.reason, model=name, version=version)
        figures = {f"{part}_{who}": float(d[who]) for part, d in (("test", decision.test), ("recent", decision.recent))
                   if d for who in ("challenger", "champion") if who in d}
        return dg.Output(
            {"name": name, "version": version, "promoted": decision.promoted, "champion_version": champion,
             "reason": decision.reason, "threshold": tuned_model.threshold, "metric": decision.metric,
             "basis": decision.basis, "challenger_score": decision.challenger_score,
             "champion_score": decision.champion_score, "previous_champion": pinned, **figures,
             "training_days": days, "time_holdout_days": holdout_days},
            metadata={
                "model_name": name, "version": version, "promoted": decision.promoted,
                "decision": decision.reason, "metric": decision.metric, "decided_on": decision.basis,
                **figures,
                "test_rows": len(training_splits.test), "time_holdout_rows": len(time_holdout),
                "time_holdout_days": dg.MetadataValue.json(holdout_days),
                "training_days": dg.MetadataValue.json(days), "training_rows": len(trained_on),
                "previous_champion": pinned or "none",
                "champion_version": champion or "none",
                "margin": promotion.margin,
                "promotion_basis": promotion.basis,
                "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run_id)),
            },
        )

    return [registered_model]
