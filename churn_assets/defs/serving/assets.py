"""churn_bento: the registry champion in the BentoML model store, and the Bento built from bento/.

Its storage is the BentoML store, so it returns a MaterializeResult: the tags are metadata (tests and
tools read `bento_tag` there), nothing is pickled by the IO manager."""

import dagster as dg

from churn_assets.core.asset_values import Splits
from churn_assets.core.config import PROJECT_ROOT
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.services import SERVICE_RETRY, explains_outages

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dg.asset(group_name="serving", kinds={"bentoml"}, deps=["registered_model"], code_version=CODE_VERSION,
          description="Saves the current champion (MLflow alias `champion`) to the BentoML model store and "
                      "builds the Bento from bento/ (HTTP + gRPC, adaptive batching). Ready for "
                      "`make container` (bentoml containerize).",
          retry_policy=SERVICE_RETRY)
@explains_outages
def churn_bento(context: dg.AssetExecutionContext, training_splits: Splits,
                mlflow: MlflowResource) -> dg.MaterializeResult:
    from churn_assets.core import packaging
    from churn_assets.core.champion import load_champion

    champion = load_champion(mlflow.client(), mlflow.model_name)
    metrics = {k[len("test_"):]: float(v) for k, v in champion.tags.items() if k.startswith("test_")}
    example = packaging.example_record(training_splits.test, champion.contract)
    model_tag = packaging.save_model(champion.pipeline, champion.name, champion.version, champion.threshold,
                                     champion.contract.to_json(), metrics, example)
    bento_tag = packaging.build_bento(PROJECT_ROOT, model_tag)
    context.log.info(f"built {bento_tag} with {model_tag} ({champion.name} v{champion.version})")
    return dg.MaterializeResult(
        metadata={
            "bento_tag": bento_tag,
            "model_tag": model_tag,
            "model_version": champion.version,
            "registry_model": f"{champion.name}@champion (v{champion.version})",
            "serve": f"make serve  # or: bentoml serve {bento_tag}",
            # The script runs `bentoml containerize` where bentoml 1.4.40 accepts bento/Dockerfile.template.
            "containerize": f"make container  # or: scripts/container_build.sh --bento {bento_tag}",
            "example_request": dg.MetadataValue.json({"customer": example}),
        },
    )
