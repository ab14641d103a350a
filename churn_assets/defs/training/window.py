"""training_data and time_holdout: the base source plus the labelled days inside the window."""

import dagster as dg
import pandas as pd

from churn_assets.core.training.memory import release_memory
from churn_assets.defs.common.labelled import LabelledStore
from churn_assets.defs.common.metadata import preview
from churn_assets.model.contract import DataContract

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


# The window closes the loop (labelled_outcomes -> training_data) by reading the labelled days from the
# instance and their files, not through a declared dependency: a declared edge would make the groups a
# cycle (registry -> scoring -> monitoring -> training -> registry), and the UI then lays the lineage
# out from wherever the cycle is broken (the registry on the far left). Undeclared, it reads left to
# right from ingest to serving, scoring, monitoring and the experiment. The window is part of
# preparing the training data, so it sits in the features group beside customer_features.
@dg.multi_asset(
    group_name="features",
    outs={
        "training_data": dg.AssetOut(kinds={"pandas"}, code_version=CODE_VERSION,
                                     description="Clean base customers plus the labelled days "
                                     "(labelled_outcomes partitions, read from the instance) inside the window (policy: base plus recent; the latest record of a "
                                     "customer wins). The days are the run tag churn/window_days when "
                                     "present (set when the retrain was requested), else the labelled days "
                                     "materialized now (then recorded as that tag). Metadata lists the days "
                                     "and rows that trained and where the window came from."),
        "time_holdout": dg.AssetOut(kinds={"pandas"}, code_version=CODE_VERSION,
                                    description="The newest labelled day(s), never trained on: "
                                    "the registry gate judges champion and challenger there."),
    },
)
def training_window(context: dg.AssetExecutionContext, clean_customers: pd.DataFrame, data_contract: DataContract,
                    labelled: LabelledStore):
    release_memory()  # the previous step's data is garbage now (core/training/memory.py)
    from churn_assets.core.data import window
    from churn_assets.core.data.validation import validate

    policy = labelled.policy()
    materialized = context.instance.get_materialized_partitions(dg.AssetKey("labelled_outcomes"))
    present = {d for d in materialized if window.partition_path(labelled.root, data_contract.dataset, d).is_file()}
    run_tags = context.instance.get_run_by_id(context.run.run_id).tags
    if window.WINDOW_TAG in run_tags:  # decided when the retrain was requested: reproducible from the run's tags
        wanted = window.parse_window_tag(run_tags[window.WINDOW_TAG])
        missing = sorted(set(wanted) - present)
        if missing:
            raise dg.Failure(f"run tag {window.WINDOW_TAG} names labelled day(s) {missing} that are not "
                             f"materialized (or whose file is gone under {labelled.root}): the run cannot "
                             "reproduce the window it was asked for", allow_retries=False)
        days, source = wanted, f"run tag {window.WINDOW_TAG} (recorded when the run was requested)"
    else:  # read now, and recorded on the run so that it can be reproduced from its tags
        days, source = sorted(present), "the labelled days materialized when this step ran (no run tag)"
        context.instance.add_run_tags(context.run.run_id, {window.WINDOW_TAG: window.window_tag(days)})
    chosen = window.select_days(days, policy)

    def load(days: list[str]) -> tuple[pd.DataFrame, int]:
        frames, bad = [], 0
        for day in days:  # each day is validated against this run's contract with its own as-of date
            res = validate(window.read_days(labelled.root, data_contract.dataset, [day]), data_contract, as_of=day)
            frames.append(res.clean.assign(as_of=pd.Timestamp(day), **{window.SOURCE: day}))
            bad += len(res.quarantined)
        return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), bad

    recent, bad_recent = load(chosen.train_days)
    holdout, bad_holdout = load(chosen.holdout_days)
    base = clean_customers
    if len(recent) and data_contract.as_of:
        base = base.assign(as_of=pd.Timestamp(data_contract.as_of))
    rows, replaced = window.combine(base, recent, data_contract.id_column)
    why_not = window.usable_holdout(holdout, data_contract.target_column, policy) if len(holdout) else "no labelled days"
    if why_not and len(holdout):
        context.log.warning(f"time holdout unusable ({why_not}): the gate uses the random test split")
    per_day = rows[window.SOURCE].value_counts().sort_index().to_dict()
    context.log.info(f"training on {len(rows):,} rows: base {per_day.get('base', 0):,} + "
                     f"{len(chosen.train_days)} labelled day(s); time holdout {chosen.holdout_days or 'none'}")
    yield dg.Output(rows, output_name="training_data", metadata={
        "dagster/row_count": len(rows),
        "base_rows": int(per_day.get("base", 0)),
        "labelled_days": dg.MetadataValue.json(chosen.train_days),
        "labelled_rows": int(len(rows) - per_day.get("base", 0)),
        "rows_per_source": dg.MetadataValue.json({k: int(v) for k, v in per_day.items()}),
        "days_outside_window": dg.MetadataValue.json(chosen.skipped_days),
        "replaced_by_newer_record": replaced,
        "quarantined_labelled_rows": bad_recent,
        "window_days": policy.days,
        "window_from": source,
        "window_tag": window.window_tag(days),
        "policy": "base plus recent, unweighted",
    })
    yield dg.Output(holdout if not why_not else holdout.iloc[0:0], output_name="time_holdout", metadata={
        "dagster/row_count": 0 if why_not else len(holdout),
        "days": dg.MetadataValue.json(chosen.holdout_days),
        "usable": dg.MetadataValue.bool(why_not is None),
        "why_not": why_not or "",
        "quarantined_rows": bad_holdout,
        "churn_rate": float(holdout[data_contract.target_column].mean()) if len(holdout) else 0.0,
        "preview": preview(holdout, hide=(data_contract.id_column,)) if len(holdout) else "none",
    })
