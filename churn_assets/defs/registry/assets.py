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


# Registry tags: the headline test figures (the rest are in the MLflow run and model_evaluation).
HEADLINE = ("roc_auc", "pr_auc", "f1", "brier")


def _described(tuned_model: TunedModel, model_evaluation: dict, rows: int, days: list[str], run_id: str) -> str:
    """A model version's description in the registry UI."""
    m = model_evaluation["metrics"]
    window = f"base + labelled days {days[0]}..{days[-1]}" if days else "base data only"
    return (f"{tuned_model.family} on {tuned_model.contract.dataset}: {rows:,} training rows ({window}); test ROC-AUC "
            f"{m['roc_auc']:.4f}, F1 {m['f1']:.4f} at threshold {tuned_model.threshold:.3f}. Dagster run {run_id}.")


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(group_name="registry", kinds={"mlflow"}, code_version=CODE_VERSION,
              description="Registers the tuned Pipeline (alias `challenger`); promotes it to `champion` only if it beats "
                          "the champion pinned at the start of the run by the configured margin on data neither trained "
                          "on: the time holdout when there is one, else the test split. Refuses a champion of another "
                          "data contract; promotion is a compare-and-set (a champion that moved after the decision is "
                          "judged again, never a failed run); a challenger identical in window and config hash to the "
                          "champion is not registered.",
              retry_policy=b.retry)
    @explains_outages
    def registered_model(context: dg.AssetExecutionContext, tuned_model: TunedModel, model_evaluation: dict,
                         training_splits: Splits, time_holdout: pd.DataFrame, mlflow: MlflowResource,
                         promotion: PromotionPolicy, notifier: Notifier) -> dg.Output[dict]:
        release_memory()  # the previous step's data is garbage now (core/training/memory.py)
        from churn_assets.core.data.window import SOURCE, window_key
        from churn_assets.core.registry import model_registry as registry
        from churn_assets.core.training import tracking

        client, name = mlflow.client(), mlflow.model_name
        pinned = mlflow.pinned_champion(context)
        target = tuned_model.contract.target_column
        trained_on = pd.concat([training_splits.train, training_splits.val])
        sources = trained_on[SOURCE].value_counts().sort_index().to_dict() if SOURCE in trained_on else {"base": len(trained_on)}
        days = sorted(k for k in sources if k != "base")
        holdout_days = sorted(time_holdout[SOURCE].unique()) if SOURCE in time_holdout and len(time_holdout) else []
        # What this challenger is: its data (base rows, labelled days, held-out days) and its config.
        everything = pd.concat([trained_on, training_splits.test])
        used = everything[SOURCE].value_counts().to_dict() if SOURCE in everything else {"base": len(everything)}
        data_key = window_key(sorted(k for k in used if k != "base"), holdout_days, int(used.get("base", 0)))
        config = registry.config_hash(dict(context.run.run_config or {}), tuned_model.contract)
        same = registry.identical_champion(client, name, data_key, config)
        if same is not None:  # the same model again: registering it would only add a duplicate version
            reason = (f"not registered: identical in data and configuration to champion v{same} (same window "
                      f"{data_key}, same config hash {config})")
            context.log.info(f"{name}: {reason}")
            notifier.send("not_promoted", f"{name}: challenger not registered", reason=reason, model=name,
                          version=same)
            return dg.Output(
                {"name": name, "version": same, "registered": False, "promoted": False, "champion_version": same,
                 "reason": reason, "threshold": tuned_model.threshold, "metric": promotion.metric,
                 "basis": "identical", "previous_champion": pinned, "training_days": days,
                 "time_holdout_days": holdout_days, "window_key": data_key, "config_hash": config},
                metadata={"model_name": name, "registered": False, "promoted": False, "decision": reason,
                          "champion_version": same, "window_key": data_key, "config_hash": config,
                          "training_days": dg.MetadataValue.json(days),
                          "time_holdout_days": dg.MetadataValue.json(holdout_days)})
        with mlflow.step(context) as run_id:
            version = registry.register(client, name, tuned_model.model_uri, tuned_model.mlflow_run_id, tags={
                "dagster_run_id": context.run.run_id, "family": tuned_model.family,
                "threshold": tuned_model.threshold, "dataset": tuned_model.contract.dataset,
                "training_rows": len(trained_on), "training_base_rows": sources.get("base", 0),
                "training_days": ",".join(days) or "none", "time_holdout_days": ",".join(holdout_days) or "none",
                "window_key": data_key, "config_hash": config,
                **{f"test_{k}": model_evaluation["metrics"][k] for k in HEADLINE if k in model_evaluation["metrics"]},
            }, description=_described(tuned_model, model_evaluation, len(trained_on), days, context.run.run_id))
            try:  # compare-and-set; a champion that moved after the decision is judged again, never a failure
                decision, conflicts = registry.decide_and_promote(
                    client, name, version, training_splits.test, target, promotion.metric, promotion.margin,
                    recent=time_holdout, pinned=pinned, promotion_basis=promotion.basis)
            except registry.ContractMismatch as err:
                client.set_model_version_tag(name, version, "gate_decision", f"refused: {err}")
                raise dg.Failure(str(err), allow_retries=False) from err
            for key, value in decision.tags().items():
                client.set_model_version_tag(name, version, key, value)
            verdict = "promoted to champion" if decision.promoted else "stays challenger"
            client.update_model_version(name, version, description=(
                f"{_described(tuned_model, model_evaluation, len(trained_on), days, context.run.run_id)} "
                f"Gate: {verdict} ({decision.reason})."))
            run = context.run
            client.set_tag(run_id, tracking.NOTE, f"{tracking.run_note(run.job_name, run.run_id, run.tags)} "
                                                  f"Registered as {name} v{version}: {verdict} ({decision.reason}).")
        champion = registry.champion_version(client, name)
        judged_against = decision.champion_version
        if decision.promoted:
            context.log_event(dg.AssetMaterialization("champion_model", metadata={
                "model_name": name, "version": version, "previous": judged_against or "none",
                "reason": decision.reason}))
        context.log.info(f"{name} v{version} {verdict}: {decision.reason}")
        notifier.send("promotion" if decision.promoted else "not_promoted",
                      f"{name} v{version} {verdict}", reason=decision.reason, model=name, version=version)
        figures = {f"{part}_{who}": float(d[who]) for part, d in (("test", decision.test), ("recent", decision.recent))
                   if d for who in ("challenger", "champion") if who in d}
        return dg.Output(
            {"name": name, "version": version, "registered": True, "promoted": decision.promoted,
             "champion_version": champion, "reason": decision.reason, "threshold": tuned_model.threshold,
             "metric": decision.metric, "basis": decision.basis, "challenger_score": decision.challenger_score,
             "champion_score": decision.champion_score, "previous_champion": pinned,
             "judged_against": judged_against, "conflicts": conflicts, **figures,
             "training_days": days, "time_holdout_days": holdout_days, "window_key": data_key,
             "config_hash": config},
            metadata={
                "model_name": name, "version": version, "registered": True, "promoted": decision.promoted,
                "decision": decision.reason, "metric": decision.metric, "decided_on": decision.basis,
                **figures,
                "test_rows": len(training_splits.test), "time_holdout_rows": len(time_holdout),
                "time_holdout_days": dg.MetadataValue.json(holdout_days),
                "training_days": dg.MetadataValue.json(days), "training_rows": len(trained_on),
                "previous_champion": pinned or "none",
                "judged_against": judged_against or "none",
                "compare_and_set_conflicts": dg.MetadataValue.json(conflicts),
                "champion_version": champion or "none",
                "window_key": data_key, "config_hash": config,
                "margin": promotion.margin,
                "promotion_basis": promotion.basis,
                "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run_id)),
            },
        )

    return [registered_model]
