"""Champion/challenger in the MLflow Model Registry, with aliases (stages are deprecated).

A new version gets the alias ``challenger``. It becomes ``champion`` only when it beats the
champion that was pinned when its run started, by ``margin``, on data neither model trained on:

* the **time holdout** (the newest labelled days, see core/data/window.py) decides when it exists;
* otherwise the challenger's random **test split** decides (the first training, or no outcomes yet).

Both figures are reported. A model never replaces a champion of another data contract (the run
fails and names both). Promotion is a compare-and-set on the pinned champion; if the champion moved
after the decision, the challenger is judged again against the new one (``decide_and_promote``).
A challenger trained on the same window with the same config as the champion is not registered
(``identical_champion``). Each promotion appends to the registered model's ``champion_history`` tag,
so a rollback is one call.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churn_assets.core.training.metrics import RANKING_METRICS
from churn_assets.core.training.tracking import tag_value
from churn_assets.model.contract import DataContract

CHAMPION, CHALLENGER, HISTORY = "champion", "challenger", "champion_history"


class ContractMismatch(RuntimeError):
    """The champion was trained on another data contract: promotion would silently swap data sets."""


class PromotionConflict(RuntimeError):
    """The champion changed between the decision and the promotion."""


def default_model_name(dataset: str) -> str:
    """One registered model per data set: ``churn-<dataset>``."""
    return "churn-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset).strip("-") or "dataset")


@dataclass
class Decision:
    promoted: bool
    reason: str
    metric: str
    challenger_version: str
    challenger_score: float  # on the deciding data
    champion_version: str | None = None
    champion_score: float | None = None  # on the deciding data
    basis: str = "test_split"  # or "time_holdout"
    test: dict | None = None  # {"rows", "challenger", "champion"} on the random test split
    recent: dict | None = None  # the same on the time holdout (None when there is none)

    def tags(self) -> dict[str, str]:
        """What the model version records about its gate."""
        out = {"gate_basis": self.basis, "gate_decision": self.reason,
               "gate_champion_version": self.champion_version or "none"}
        for part, figures in (("test", self.test), ("recent", self.recent)):
            for k, v in (figures or {}).items():
                out[f"gate_{part}_{k}"] = tag_value(v)
        return out

    def as_dict(self) -> dict:
        return asdict(self)


def register(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict, description: str = "") -> str:
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Churn classifier managed by churn_assets.")
    # MLflow 3 logged models (models:/m-<id>) must be registered with their model_id over REST.
    model_id = model_uri.split("/", 1)[1] if model_uri.startswith("models:/m-") else None
    # Idempotent: a retried step (the tracking server went away after registering) reuses its version.
    mv = next((v for v in client.search_model_versions(f"name='{name}'")
               if v.source == model_uri and v.run_id == run_id), None)
    mv = mv or client.create_model_version(name, model_uri, run_id=run_id, model_id=model_id,
                                           tags={k: tag_value(v) for k, v in tags.items()}, description=description)
    client.set_registered_model_alias(name, CHALLENGER, mv.version)
    return str(mv.version)


def champion_version(client: MlflowClient, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def version_contract(client: MlflowClient, name: str, version: str) -> DataContract:
    run_id = client.get_model_version(name, version).run_id
    return DataContract.from_json(mlflow.artifacts.load_text(f"runs:/{run_id}/data_contract.json"))


def contract_signature(c: DataContract) -> dict:
    return {"dataset": c.dataset, "id": c.id_column, "target": c.target_column,
            "columns": sorted(f"{col.name}:{col.role}" for col in c.columns if col.role != "drop")}


def check_same_contract(champion: DataContract, challenger: DataContract, name: str, version: str) -> None:
    a, b = contract_signature(champion), contract_signature(challenger)
    if a == b:
        return
    only_a, only_b = sorted(set(a["columns"]) - set(b["columns"])), sorted(set(b["columns"]) - set(a["columns"]))
    raise ContractMismatch(
        f"'{name}' champion v{version} was trained on data contract '{champion.dataset}' (id {a['id']}, target "
        f"{a['target']}) and this challenger on '{challenger.dataset}' (id {b['id']}, target {b['target']}); "
        f"columns only in the champion's: {only_a[:8]}, only in the challenger's: {only_b[:8]}. One registered "
        "model serves one data contract: leave CHURN_MODEL_NAME empty (each data set gets churn-<name>) or "
        "give this data set a name of its own.")


def score(model_uri: str, data: pd.DataFrame, target: str, metric: str) -> float:
    model = mlflow.sklearn.load_model(model_uri)
    p = model.predict_proba(data)[:, 1]
    return float(RANKING_METRICS[metric](data[target].to_numpy(dtype=int), p))


def _pair(name: str, challenger: str, champion: str, data: pd.DataFrame, target: str, metric: str) -> dict:
    return {"rows": len(data), "challenger": score(f"models:/{name}/{challenger}", data, target, metric),
            "champion": score(f"models:/{name}/{champion}", data, target, metric)}


def decide(client: MlflowClient, name: str, version: str, holdout: pd.DataFrame, target: str,
           metric: str = "roc_auc", margin: float = 0.0, recent: pd.DataFrame | None = None,
           pinned: str | None = "resolve", promotion_basis: str = "time_holdout") -> Decision:
    """Judge challenger ``version`` against the champion pinned at the start of the run
    (``pinned``; "resolve" reads the alias now). ``holdout`` is the random test split, ``recent``
    the time holdout (None: there is none). ``promotion_basis`` "readout": the figures are computed
    and reported, but only a first model is promoted here; the experiment readout decides the rest."""
    current = champion_version(client, name) if pinned == "resolve" else pinned
    if current is None:
        challenger = score(f"models:/{name}/{version}", holdout, target, metric)
        return Decision(True, "first model: no champion yet", metric, version, challenger,
                        test={"rows": len(holdout), "challenger": challenger})
    if current == version:
        challenger = score(f"models:/{name}/{version}", holdout, target, metric)
        return Decision(False, "already champion", metric, version, challenger, current, challenger)
    check_same_contract(version_contract(client, name, current), version_contract(client, name, version),
                        name, current)
    test = _pair(name, version, current, holdout, target, metric)
    time = _pair(name, version, current, recent, target, metric) if recent is not None and len(recent) else None
    basis, figures = ("time_holdout", time) if time else ("test_split", test)
    ch, champ = figures["challenger"], figures["champion"]
    where = "the time holdout" if time else "the test split"
    verdict = "beats" if ch > champ + margin else "does not beat"
    reason = f"{metric} {ch:.4f} {verdict} champion v{current} {champ:.4f} on {where} ({figures['rows']:,} rows) " \
             f"by more than {margin}"
    promoted = ch > champ + margin
    if promotion_basis == "readout":
        promoted = False
        reason += f"; promotion basis is the experiment readout: v{version} stays challenger until a readout " \
                  "of live outcomes finds it better"
    return Decision(promoted, reason, metric, version, ch, current, champ, basis=basis, test=test, recent=time)


def decide_and_promote(client: MlflowClient, name: str, version: str, holdout: pd.DataFrame, target: str,
                       metric: str = "roc_auc", margin: float = 0.0, recent: pd.DataFrame | None = None,
                       pinned: str | None = "resolve", promotion_basis: str = "time_holdout",
                       attempts: int = 3) -> tuple[Decision, list[str]]:
    """``decide`` then, if promoted, ``promote`` compare-and-set on the champion it was judged against.
    If the champion changed after the decision (another run promoted meanwhile, a rollback), the
    challenger is judged again against the new champion, up to ``attempts`` times; if the alias keeps
    moving it stays challenger with the reason. Never raises PromotionConflict. Returns the final
    decision and the conflicts met (in words)."""
    conflicts: list[str] = []
    against = pinned
    for _ in range(attempts):
        decision = decide(client, name, version, holdout, target, metric, margin, recent=recent, pinned=against,
                          promotion_basis=promotion_basis)
        if not decision.promoted:
            break
        expected = decision.champion_version  # None: the first model
        try:
            promote(client, name, version, expected=expected)
            break
        except PromotionConflict:
            now = champion_version(client, name)
            conflicts.append(f"champion moved from v{expected} to v{now} after this run decided; judged again "
                             f"against v{now}")
            against = now
    else:
        decision.promoted = False
        decision.reason = f"not promoted: the champion kept moving ({'; '.join(conflicts)})"
    if conflicts and decision.promoted:
        decision.reason += f" (after re-judging: {'; '.join(conflicts)})"
    elif conflicts and "not promoted" not in decision.reason:
        decision.reason += f" (re-judged: {'; '.join(conflicts)})"
    return decision, conflicts


def config_hash(run_config: dict, contract: DataContract) -> str:
    """What configured a training run, in 12 hex digits: the run's op config and resource overrides,
    and the data contract's signature (execution and logger settings do not change the model)."""
    import hashlib

    relevant = {"ops": run_config.get("ops", {}), "resources": run_config.get("resources", {}),
                "contract": contract_signature(contract)}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:12]


def identical_champion(client: MlflowClient, name: str, window_key: str, config: str) -> str | None:
    """The champion version if it was trained on the same window with the same config, else None."""
    current = champion_version(client, name)
    if current is None:
        return None
    tags = client.get_model_version(name, current).tags
    same = tags.get("window_key") == window_key and tags.get("config_hash") == config
    return current if same else None


def _history(client: MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags
    return json.loads(tags.get(HISTORY, "[]"))


def promote(client: MlflowClient, name: str, version: str, expected: str | None = "any") -> None:
    """Make ``version`` champion if the champion is still ``expected`` (compare-and-set; "any" skips
    the check, for the CLI). Training runs are serialized by the run queue, so the window between
    this read and the write is not contended by our own runs."""
    current = champion_version(client, name)
    if expected != "any" and current != expected:
        raise PromotionConflict(f"'{name}' champion changed from v{expected} to v{current} after this run "
                                f"decided; v{version} was not promoted (re-run to judge it against v{current})")
    history = _history(client, name)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY, json.dumps(history + [str(version)]))
    client.set_model_version_tag(name, version, "promoted", "true")


def promote_on_readout(client: MlflowClient, name: str, challenger: str, champion: str, reason: str,
                       day: str) -> str:
    """Promote the ``challenger`` version that an experiment readout of ``day`` found better than
    ``champion`` (the version that served the experiment's champion arm). Compare-and-set on that
    champion: if the alias moved since, nothing changes. Returns what happened, in words."""
    current = champion_version(client, name)
    if current == challenger:
        return f"v{challenger} is already champion"
    try:
        promote(client, name, challenger, expected=champion)
    except PromotionConflict:
        return (f"refused: the readout compared v{challenger} with champion v{champion}, but the champion is now "
                f"v{current}; v{challenger} was not promoted (a readout against v{current} must decide)")
    for key, value in {"gate_basis": "readout", "gate_decision": reason, "gate_champion_version": champion,
                       "readout_day": day, "promoted_by": "experiment_readout"}.items():
        client.set_model_version_tag(name, challenger, key, value)
    return f"promoted v{challenger} to champion (was v{champion})"


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

