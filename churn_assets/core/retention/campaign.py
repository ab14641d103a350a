"""One day of a retention campaign, end to end, without Dagster: what the assets call.

``day_values``: each scored customer's value at stake (``value.resolve``); for the synthetic default
the value is ``synthetic.monthly_revenue`` of the day's customers. ``plan_day``: cut points (fixed
per champion version), cool-down, the list, stored as a table and as CSV. ``deliver``: the CRM.
``campaign_outcomes``: where the outcomes of a day's list are read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churn_assets.core.retention import store
from churn_assets.core.retention.targeting import CampaignConfig, Cuts, Targets, build_targets
from churn_assets.core.retention.value import Values, ValueSpec, resolve


def value_spec(spec) -> ValueSpec | None:
    return ValueSpec(**spec.value) if getattr(spec, "value", None) else None


SYNTHETIC_VALUE_INPUTS = ("customer_lifetime_months", "products_owned", "total_spent")


def value_columns(chunk: pd.DataFrame, spec) -> pd.DataFrame:
    """The columns of a raw batch chunk the value needs: the id, the value column, and for the
    synthetic default the inputs of ``synthetic.monthly_revenue``."""
    vs = value_spec(spec)
    want = [spec.id_column] + ([vs.column] if vs else [])
    if spec.source.kind == "synthetic":
        want += list(SYNTHETIC_VALUE_INPUTS)
    return chunk[[c for c in dict.fromkeys(want) if c in chunk.columns]]


def day_values(customers: pd.DataFrame, spec, seed: int, source: str) -> Values:
    """Values at stake of the day's customers (``customers`` holds the id and whatever columns exist)."""
    vs = value_spec(spec)
    if spec.source.kind == "synthetic" and vs is not None and vs.column not in customers.columns:
        from churn_assets.core.data.synthetic import monthly_revenue

        needed = {"customer_id", "customer_lifetime_months", "products_owned", "total_spent"}
        if needed <= set(customers.columns):
            customers = customers.assign(**{vs.column: monthly_revenue(customers, seed)})
    return resolve(customers, vs, spec.id_column, source)


def scored_frame(predictions: pd.DataFrame, values: Values) -> tuple[pd.DataFrame, int]:
    """Predictions joined with values (customers without a stored prediction are counted)."""
    v = pd.DataFrame({"customer_id": values.ids.to_numpy(), "value_at_stake": values.at_stake})
    p = predictions.assign(customer_id=predictions["customer_id"].astype(str))[["customer_id", "churn_probability"]]
    out = p.merge(v, on="customer_id", how="inner")
    return out, int(len(v) - len(out))


def cuts_for(url: str, model_name: str, version: str, reference_scores: np.ndarray | None,
             reference_values: np.ndarray | None, day_scored: pd.DataFrame, day: str) -> Cuts:
    """The champion version's cut points: stored ones, else terciles of its training scores (the
    logged reference) and of values (the reference's when it has them, else this first day's)."""
    found = store.load_cuts(url, model_name, version)
    if found is not None:
        return found
    risk = reference_scores if reference_scores is not None and len(reference_scores) else day_scored["churn_probability"]
    val = reference_values if reference_values is not None and len(reference_values) else day_scored["value_at_stake"]
    src = (("risk: terciles of the champion's training scores" if reference_scores is not None
            else f"risk: terciles of {day}'s scores")
           + ("; value: terciles of the training values" if reference_values is not None
              else f"; value: terciles of {day}'s values (first day of v{version})"))
    return store.save_cuts(url, model_name, version, Cuts.terciles(risk, val, src))


@dataclass
class Plan:
    targets: Targets
    cuts: Cuts
    csv: Path
    stored: int


def plan_day(url: str, day: str, scored: pd.DataFrame, cfg: CampaignConfig, cuts: Cuts, csv_dir: str | Path,
             model_version: str, ranking: str = "risk") -> Plan:
    recent = store.recently_selected(url, cfg.name, day, cfg.cooldown_days)
    t = build_targets(scored, cfg, cuts, recent, ranking=ranking)
    stored = store.replace_targets(url, day, cfg.name, t.table, model_version)
    csv = store.write_csv(t.table, csv_dir, cfg.name, day)
    return Plan(t, cuts, csv, stored)


def deliver(url: str, crm_url: str, day: str, campaign: str, table: pd.DataFrame, batch_size: int, retries: int,
            backoff_s: float = 0.5):
    """Send the day's treated customers not yet delivered (the table is the stored list)."""
    from churn_assets.core.retention import crm

    treated = table[table["group"] == "treatment"].sort_values("rank")
    return crm.send(crm_url, treated, campaign=campaign, day=day, already=store.delivered(url, day, campaign),
                    record=lambda ids, key: store.record_delivery(url, day, campaign, ids, key),
                    batch_size=batch_size, retries=retries, backoff_s=backoff_s)


def outcomes_source(spec, retention_dir: str | Path, campaign: str) -> dict:
    """Where a day's campaign outcomes arrive: the spec's ``campaign_outcomes``, else its ``labels``; the
    synthetic default: ``<retention_dir>/outcomes/<campaign>/{date}.csv`` (the world writes them)."""
    if getattr(spec, "campaign_outcomes", None):
        return spec.campaign_outcomes
    if spec.source.kind != "synthetic" and spec.labels:
        return spec.labels
    return {"path": str(Path(retention_dir) / "outcomes" / campaign / "{date}.csv")}


def read_outcomes(source: dict, day: str) -> pd.DataFrame | None:
    if source.get("url"):
        from churn_assets.core.data.batches import read_sql_day

        df = read_sql_day(source, day)
        return df if len(df) else None
    path = Path(source["path"].format(date=day))
    return pd.read_csv(path, dtype={0: str}) if path.is_file() else None


def write_world_outcomes(table: pd.DataFrame, customers: pd.DataFrame, day: str, seed: int, path_template: str,
                         id_column: str = "customer_id", target: str = "churn") -> Path:
    """Synthetic default: the outcomes the world (core/retention/world.py) gives the day's list,
    treated customers with their contacted outcome, control ones with their uncontacted one."""
    from churn_assets.core.retention.world import potential_outcomes, realized

    listed = customers[customers[id_column].astype(str).isin(table["customer_id"].astype(str))]
    truth = potential_outcomes(listed, day, seed).set_index("customer_id")
    ids = table["customer_id"].astype(str)
    group = table.set_index("customer_id")["group"]
    churned = realized(truth.loc[ids].reset_index(), (group.loc[ids] == "treatment").to_numpy())
    path = Path(path_template.format(date=day))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({id_column: ids.to_numpy(), target: churned.astype(int)}).to_csv(path, index=False)
    return path


MIN_LIST_CAMPAIGN = 1_000  # fewest listed customers with an outcome before the lists train an uplift model


def lists_campaign(url: str, spec, campaign: str, retention_dir, batches) -> tuple[pd.DataFrame, dict] | None:
    """The campaign's stored lists whose outcomes arrived, as a randomized campaign for the uplift
    model (``uplift.campaign_from_lists``), or None when there are fewer than ``MIN_LIST_CAMPAIGN``."""
    from churn_assets.core.data.batches import load_batch
    from churn_assets.core.retention.uplift import campaign_from_lists

    src = outcomes_source(spec, retention_dir, campaign)
    frames, totals = [], {}
    for day in store.partitions(url, campaign):
        outcomes = read_outcomes(src, day)
        if outcomes is None:
            continue
        frame, counts = campaign_from_lists(store.read_targets(url, day, campaign), outcomes,
                                            load_batch(spec.scoring, day, batches), spec.id_column,
                                            spec.target_column, src.get("path", "outcomes").format(date=day))
        frames.append(frame)
        totals = {k: totals.get(k, 0) + v for k, v in counts.items()} | {"days": totals.get("days", 0) + 1}
    if not frames or sum(len(f) for f in frames) < MIN_LIST_CAMPAIGN:
        return None
    return pd.concat(frames, ignore_index=True), totals
