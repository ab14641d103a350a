"""churn_bento: the registry champion in the BentoML model store, and the Bento built from bento/.

Its storage is the BentoML store, so it returns a MaterializeResult: the tags are metadata (tests and
tools read `bento_tag` there), nothing is pickled by the IO manager."""

import dagster as dg

from churn_assets.core.training.asset_values import Splits
from churn_assets.defs.common.build import Build
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.services import explains_outages
from churn_assets.model.settings import PROJECT_ROOT

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(group_name="serving", kinds={"bentoml"}, deps=["registered_model"], code_version=CODE_VERSION,
              description="Saves the current champion (MLflow alias `champion`) and, when it differs, the challenger "
                          "(alias `challenger`) to the BentoML model store and builds the Bento from bento/ (HTTP + "
                          "gRPC, adaptive batching; CHURN_SERVING_MODE single|shadow|ab). Ready for "
                          "`make container` (bentoml containerize).",
              retry_policy=b.retry)
    @explains_outages
    def churn_bento(context: dg.AssetExecutionContext, training_splits: Splits,
                    mlflow: MlflowResource) -> dg.MaterializeResult:
        from churn_assets.core.registry import packaging
        from churn_assets.core.registry.champion import load_challenger, load_champion

        client = mlflow.client()
        champion = load_champion(client, mlflow.model_name)
        challenger, why = load_challenger(client, mlflow.model_name, champion)
        example = packaging.example_record(training_splits.test, champion.contract)

        def save(model, alias: str) -> str:
            metrics = {k[len("test_"):]: float(v) for k, v in model.tags.items() if k.startswith("test_")}
            return packaging.save_model(model.pipeline, model.name, model.version, model.threshold,
                                        model.contract.to_json(), metrics, example, alias=alias)

        model_tag = save(champion, "champion")
        challenger_tag = save(challenger, "challenger") if challenger is not None else ""
        bento_tag = packaging.build_bento(PROJECT_ROOT, model_tag, challenger_tag)
        context.log.info(f"built {bento_tag} with {model_tag} ({champion.name} v{champion.version}); {why}")
        return dg.MaterializeResult(
            metadata={
                "bento_tag": bento_tag,
                "model_tag": model_tag,
                "model_version": champion.version,
                "registry_model": f"{champion.name}@champion (v{champion.version})",
                # Shadow/A-B serving needs a packaged challenger; without one those modes serve single.
                "challenger_tag": challenger_tag,
                "challenger_version": challenger.version if challenger is not None else "",
                "challenger": why,
                "serve": f"make serve  # or: bentoml serve {bento_tag}",
                # The script runs `bentoml containerize` where bentoml 1.4.40 accepts bento/Dockerfile.template.
                "containerize": f"make container  # or: scripts/container_build.sh --bento {bento_tag}",
                "example_request": dg.MetadataValue.json({"customer": example}),
            },
        )

    return [churn_bento]
