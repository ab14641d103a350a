"""Load the registry's champion with what scoring needs: version, threshold, contract, reference."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churn_assets.core.registry.model_registry import CHALLENGER, CHAMPION, ContractMismatch, check_same_contract
from churn_assets.model.contract import DataContract


@dataclass
class Champion:
    name: str
    version: str
    pipeline: object
    threshold: float
    contract: DataContract
    run_id: str
    tags: dict

    def reference(self) -> pd.DataFrame:
        """The training-time feature sample (with scores) logged next to the model."""
        path = mlflow.artifacts.download_artifacts(run_id=self.run_id, artifact_path="reference/features.parquet")
        return pd.read_parquet(path)


def load_champion(client: MlflowClient, name: str, alias: str = CHAMPION, version: str | None = None) -> Champion:
    """The model behind ``alias``, or exactly ``version`` when a run has pinned one."""
    mv = client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    pipeline = mlflow.sklearn.load_model(f"models:/{name}/{mv.version}")
    text = mlflow.artifacts.load_text(f"runs:/{mv.run_id}/data_contract.json")
    return Champion(name=name, version=str(mv.version), pipeline=pipeline, threshold=float(mv.tags["threshold"]),
                    contract=DataContract.from_json(text), run_id=mv.run_id, tags=dict(mv.tags))


def load_challenger(client: MlflowClient, name: str, champion: Champion) -> tuple[Champion | None, str]:
    """The model behind ``challenger`` when it differs from ``champion`` and serves the same data
    contract (it answers requests validated by the champion's), else None; and why, in words."""
    try:
        mv = client.get_model_version_by_alias(name, CHALLENGER)
    except MlflowException:
        return None, "no challenger alias"
    if str(mv.version) == champion.version:
        return None, f"challenger is the champion (v{champion.version})"
    challenger = load_champion(client, name, version=str(mv.version))
    try:
        check_same_contract(champion.contract, challenger.contract, name, champion.version)
    except ContractMismatch as err:
        return None, f"challenger v{challenger.version} not packaged: {err}"
    return challenger, f"challenger v{challenger.version}"
