"""Champion/challenger in the MLflow Model Registry, with aliases (stages are deprecated).

A new version gets the alias ``challenger``. It becomes ``champion`` only when it beats the
current champion on the *same* held-out data by ``margin``; the first model is champion. Each
promotion appends to the registered model's ``champion_history`` tag, so a rollback is one call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churn_assets.core.tuning import METRICS

CHAMPION, CHALLENGER, HISTORY = "champion", "challenger", "champion_history"


@dataclass
class Decision:
    promoted: bool
    reason: str
    metric: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None = None
    champion_score: float | None = None


def register(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict) -> str:
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Churn classifier managed by churn_assets.")
    # MLflow 3 logged models (models:/m-<id>) must be registered with their model_id over REST.
    model_id = model_uri.split("/", 1)[1] if model_uri.startswith("models:/m-") else None
    mv = client.create_model_version(name, model_uri, run_id=run_id, tags={k: str(v) for k, v in tags.items()},
                                     model_id=model_id)
    client.set_registered_model_alias(name, CHALLENGER, mv.version)
    return mv.version


def champion_version(client: MlflowClient, name: str) -> str | None:
    try:
        return client.get_model_version_by_alias(name, CHAMPION).version
    except MlflowException:
        return None


def score(model_uri: str, data: pd.DataFrame, target: str, metric: str) -> float:
    model = mlflow.sklearn.load_model(model_uri)
    p = model.predict_proba(data)[:, 1]
    return float(METRICS[metric](data[target].to_numpy(dtype=int), p))


def decide(client: MlflowClient, name: str, version: str, holdout: pd.DataFrame, target: str,
           metric: str = "roc_auc", margin: float = 0.0) -> Decision:
    challenger = score(f"models:/{name}/{version}", holdout, target, metric)
    current = champion_version(client, name)
    if current is None:
        return Decision(True, "first model: no champion yet", metric, version, challenger)
    if current == version:
        return Decision(False, "already champion", metric, version, challenger, current, challenger)
    try:
        champ = score(f"models:/{name}@{CHAMPION}", holdout, target, metric)
    except (KeyError, ValueError) as err:
        # The champion was trained on another data contract and cannot score this data.
        return Decision(True, f"champion v{current} cannot score this data ({err}); replaced",
                        metric, version, challenger, current, None)
    if challenger > champ + margin:
        return Decision(True, f"{metric} {challenger:.4f} beats champion {champ:.4f} by more than {margin}",
                        metric, version, challenger, current, champ)
    return Decision(False, f"{metric} {challenger:.4f} does not beat champion {champ:.4f} by more than {margin}",
                    metric, version, challenger, current, champ)


def _history(client: MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags
    return json.loads(tags.get(HISTORY, "[]"))


def promote(client: MlflowClient, name: str, version: str) -> None:
    history = _history(client, name)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY, json.dumps(history + [str(version)]))
    client.set_model_version_tag(name, version, "promoted", "true")


def rollback(client: MlflowClient, name: str) -> tuple[str, str]:
    """Give ``champion`` back to the previous champion; returns (from_version, to_version)."""
    history = _history(client, name)
    if len(history) < 2:
        raise RuntimeError(f"{name}: no previous champion to roll back to (history {history})")
    current, previous = history[-1], history[-2]
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, HISTORY, json.dumps(history[:-1]))
    client.set_model_version_tag(name, current, "rolled_back", "true")
    return current, previous


def describe(client: MlflowClient, name: str) -> dict:
    """Aliases and history, for the CLI and the demo summary."""
    rm = client.get_registered_model(name)
    return {"name": name, "aliases": dict(rm.aliases), "history": _history(client, name),
            "latest_versions": [v.version for v in client.search_model_versions(f"name='{name}'")]}

