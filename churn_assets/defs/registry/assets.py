"""registered_model: a new registry version (challenger) and the champion/challenger gate."""


import dagster as dg

from churn_assets.core.artifacts import Splits, TunedModel
from churn_assets.defs.monitoring.resources import Notifier
from churn_assets.defs.registry.policy import PromotionPolicy
from churn_assets.defs.registry.resources import MlflowResource


@dg.asset(group_name="registry", kinds={"mlflow"},
          description="Registers the tuned Pipeline (alias `challenger`); promotes it to `champion` only if it "
                      "beats the current champion on the same held-out data by the configured margin.")
def registered_model(context: dg.AssetExecutionContext, tuned_model: TunedModel, model_evaluation: dict,
                     training_splits: Splits, mlflow: MlflowResource, promotion: PromotionPolicy,
                     notifier: Notifier) -> dg.Output[dict]:
    from churn_assets.core import registry

    client, name = mlflow.client(), mlflow.model_name
    test_metrics = model_evaluation["metrics"]
    with mlflow.step(context) as run_id:
        version = registry.register(client, name, tuned_model.model_uri, tuned_model.mlflow_run_id, tags={
            "dagster_run_id": context.run.run_id, "family": tuned_model.family,
            "threshold": tuned_model.threshold, "dataset": tuned_model.contract.dataset,
            **{f"test_{k}": round(v, 6) for k, v in test_metrics.items()},
        })
        decision = registry.decide(client, name, version, training_splits.test,
                                   tuned_model.contract.target_column, promotion.metric, promotion.margin)
        if decision.promoted:
            registry.promote(client, name, version)
        client.set_model_version_tag(name, version, "gate_decision", decision.reason)
    champion = registry.champion_version(client, name)
    verdict = "promoted to champion" if decision.promoted else "stays challenger"
    context.log.info(f"{name} v{version} {verdict}: {decision.reason}")
    notifier.send("promotion" if decision.promoted else "not_promoted",
                  f"{name} v{version} {verdict}", reason=decision.reason, model=name, version=version)
    return dg.Output(
        {"name": name, "version": version, "promoted": decision.promoted, "champion_version": champion,
         "reason": decision.reason, "threshold": tuned_model.threshold, "metric": decision.metric,
         "challenger_score": decision.challenger_score, "champion_score": decision.champion_score},
        metadata={
            "model_name": name, "version": version, "promoted": decision.promoted,
            "decision": decision.reason, "metric": decision.metric,
            "challenger_score": decision.challenger_score,
            "champion_score": decision.champion_score if decision.champion_score is not None else float("nan"),
            "previous_champion": decision.champion_version or "none",
            "champion_version": champion or "none",
            "margin": promotion.margin,
            "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run_id)),
        },
    )
