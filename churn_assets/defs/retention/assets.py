"""Retention: the day's contact list (retention_targets, after churn_predictions) and, once the
outcomes of its customers arrive, the campaign readout (campaign_readout). Domain logic in
core/retention; docs/RETENTION.md."""

import dagster as dg
import pandas as pd

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.data_errors import data_failures
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.metadata import image, number, partitions_note, preview, table
from churn_assets.defs.common.mlflow import CHAMPION_DEP, MlflowResource
from churn_assets.defs.common.predictions import PredictionsStore
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.retention.resources import RetentionPolicy

CODE_VERSION = "1"
RANKING_TAG = "retention.ranking"  # on the champion's registry version: "uplift" when the uplift gate passed
UPLIFT_RUN_TAG = "retention.uplift_run"  # the MLflow run holding uplift/model.joblib


def _ci(v) -> str:
    return f"[{v[0]:+.4f}, {v[1]:+.4f}]"


def _uplift_of(champion, spec, dataset, day: str, ids: pd.Series):
    """The champion's gated uplift model (MLflow artifact) on the day's customers, in the order of ``ids``."""
    import joblib
    import mlflow as mlflow_api

    from churn_assets.core.data.batches import load_batch
    from churn_assets.core.data.validation import validate

    path = mlflow_api.artifacts.download_artifacts(run_id=champion.tags[UPLIFT_RUN_TAG],
                                                   artifact_path="uplift/model.joblib")
    model = joblib.load(path)  # our own artifact, written by uplift_model
    clean = validate(load_batch(spec.scoring, day, dataset.batches()), champion.contract, with_target=False).clean
    u = pd.Series(model.predict(clean), index=clean[champion.contract.id_column].astype(str))
    return u.reindex(ids.astype(str)).fillna(0.0).to_numpy()


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=b.daily, group_name="retention", kinds={"sql", "csv"}, code_version=CODE_VERSION,
              deps=["scoring_batch", "churn_predictions", CHAMPION_DEP], retry_policy=b.retry,
              description="The day's contact list: customers ranked by expected net value (churn probability x "
                          "value at stake x save rate - cost per contact) under the capacity, a 3x3 risk x value "
                          "grid, the cool-down, a treatment/control hash of (campaign, customer); stored in the "
                          "predictions database (retention_targets) and as CSV, and sent to the CRM webhook when "
                          "one is set (docs/RETENTION.md)." + partitions_note(b.settings.scoring_start))
    @explains_outages
    def retention_targets(context: dg.AssetExecutionContext, dataset: DatasetResource, mlflow: MlflowResource,
                          predictions_store: PredictionsStore, retention: RetentionPolicy) -> dg.MaterializeResult:
        from churn_assets.core.data.batches import iter_batch
        from churn_assets.core.retention import campaign as camp
        from churn_assets.core.retention.plots import grid_png
        from churn_assets.core.scoring import predictions_table as predictions

        day, url = context.partition_key, predictions_store.predictions_url
        spec = dataset.spec()
        with data_failures(f"retention targets {day}"):
            cfg = retention.config()
            vs = camp.value_spec(spec)
            # The day's customers as scored (the spec's `scoring` source), only the columns the value needs.
            customers = pd.concat([camp.value_columns(chunk, spec) for chunk in
                                   iter_batch(spec.scoring, day, dataset.batches())], ignore_index=True)
            values = camp.day_values(customers, spec, dataset.seed, f"scoring batch {day}")
        preds = predictions.read_partition(url, day, ["customer_id", "churn_probability"])
        if preds.empty:
            raise dg.Failure(f"no predictions for {day} in {predictions_store.safe_url()}: materialize "
                             "churn_predictions for this partition first", allow_retries=False)
        scored, unscored = camp.scored_frame(preds, values)
        champion = mlflow.champion(context)
        try:
            ref = champion.reference()
            from churn_assets.core.monitoring.drift import PREDICTION

            ref_scores = ref[PREDICTION].to_numpy(float) if PREDICTION in ref else None
            ref_values = None
            if vs is not None and vs.column in ref:
                ref_values = ref[vs.column].to_numpy(float) * vs.factor()
        except Exception as err:  # noqa: BLE001  (no logged reference: first day's terciles, said in metadata)
            context.log.warning(f"champion v{champion.version} has no reference sample ({err}); the risk cut "
                                "points come from the day's scores")
            ref_scores = ref_values = None
        cuts = camp.cuts_for(url, champion.name, champion.version, ref_scores, ref_values, scored, day)
        ranking = "risk"
        if champion.tags.get(RANKING_TAG) == "uplift" and champion.tags.get(UPLIFT_RUN_TAG):
            scored = scored.assign(uplift=_uplift_of(champion, spec, dataset, day, scored["customer_id"]))
            ranking = "uplift"
        with data_failures(f"retention targets {day}"):
            plan = camp.plan_day(url, day, scored, cfg, cuts, retention.csv_dir, champion.version, ranking=ranking)
        t = plan.targets
        crm = "off (CHURN_CRM_WEBHOOK_URL is empty)"
        if retention.crm_webhook_url:
            from churn_assets.core.retention.crm import CrmError

            try:
                sent = camp.deliver(url, retention.crm_webhook_url, day, cfg.name, t.table, retention.crm_batch_size,
                                    retention.crm_retries, retention.crm_backoff_s)
            except CrmError as err:
                raise dg.Failure(str(err), allow_retries=True) from None
            crm = (f"{sent.customers_sent} customers in {sent.batches_sent} batches sent, "
                   f"{sent.already_delivered} already delivered, {sent.retries} retries")
        q = values.quarantined
        return dg.MaterializeResult(metadata={
            "dagster/row_count": len(t.table),
            "dagster/table_name": "retention_targets",
            "campaign": cfg.name,
            "value_mode": values.mode,
            "value_reason": values.reason,
            "value_imputed": values.imputed,
            "quarantined_values": len(q),
            "quarantined_examples": preview(q, 5, hide=(spec.id_column,)) if len(q) else "none",
            "unscored_customers": unscored,
            **{k: int(v) for k, v in t.counts.items()},
            "expected_loss_selected": number(float(t.table["expected_loss"].sum())),
            "expected_net_value_selected": number(float(t.table["expected_net_value"].sum())),
            "cut_points": f"risk {cuts.risk[0]:.4f} / {cuts.risk[1]:.4f}; value {cuts.value[0]:.2f} / "
                          f"{cuts.value[1]:.2f} ({cuts.source})",
            "grid": table(t.grid),
            "grid_heatmap": image(grid_png(t.grid), "risk x value grid"),
            "preview": preview(t.table.head(10), hide=(spec.id_column,)),
            "csv": dg.MetadataValue.path(str(plan.csv)),
            "crm": crm,
            "model_version": champion.version,
            "ranking": ranking,
        })

    @dg.asset(partitions_def=b.daily, group_name="retention", kinds={"sql"}, code_version=CODE_VERSION,
              deps=["retention_targets"], retry_policy=b.retry,
              description="Treated vs control on the outcomes of the day's list: churn rates, absolute and relative "
                          "reduction, customers and value saved, each with a bootstrap interval, per grid cell; "
                          "decision works / no_evidence / harmful (core/retention/readout.py)."
                          + partitions_note(b.settings.scoring_start, "the day's contact list"))
    def campaign_readout(context: dg.AssetExecutionContext, dataset: DatasetResource,
                         predictions_store: PredictionsStore, retention: RetentionPolicy) -> dg.MaterializeResult:
        from churn_assets.core.retention import campaign as camp
        from churn_assets.core.retention import store
        from churn_assets.core.retention.readout import campaign_readout as readout

        day = context.partition_key
        spec = dataset.spec()
        listed = store.read_targets(predictions_store.predictions_url, day, retention.campaign)
        if listed.empty:
            raise dg.Failure(f"campaign {retention.campaign!r} has no list for {day}: materialize retention_targets "
                             "first", allow_retries=False)
        src = camp.outcomes_source(spec, retention.csv_dir, retention.campaign)
        where = src.get("path", "").format(date=day) or "the outcomes query"
        with data_failures(where):
            outcomes = camp.read_outcomes(src, day)
            if outcomes is None:
                raise dg.Failure(f"outcomes of campaign {retention.campaign!r} for {day} have not arrived ({where})",
                                 allow_retries=False)
            r = readout(listed, outcomes, outcome_column=spec.target_column, id_column=spec.id_column, source=where,
                        confidence=retention.confidence, resamples=retention.resamples,
                        min_outcomes=retention.min_outcomes, seed=retention.seed)
        o = r.overall
        cells = pd.DataFrame([{"cell": c["cell"], "treated": c["treated"], "control": c["control"],
                               "absolute_reduction": number(c["absolute_reduction"]),
                               "interval": _ci(c["absolute_reduction_ci"]),
                               "customers_saved": number(c["customers_saved"]),
                               "value_saved": number(c["value_saved"])} for c in r.cells])
        return dg.MaterializeResult(metadata={
            "decision": r.decision,
            "reason": r.reason,
            **{k: int(v) for k, v in r.counts.items()},
            **{k: number(o[k]) for k in ("treated_churn_rate", "control_churn_rate", "absolute_reduction",
                                         "relative_reduction", "customers_saved", "value_saved")},
            **{f"{k}_interval": _ci(o[f"{k}_ci"]) for k in ("absolute_reduction", "relative_reduction",
                                                           "customers_saved", "value_saved")},
            "confidence": r.confidence,
            "cells": table(cells) if len(cells) else "none",
        })

    @dg.asset(group_name="retention", kinds={"mlflow", "scikit-learn"}, code_version=CODE_VERSION,
              deps=[CHAMPION_DEP], retry_policy=b.retry,
              description="Uplift targeting: a T-learner (two models of a project family, on the champion's features) "
                          "fitted on a randomized campaign (the spec's `campaign_history`, else the campaign's own "
                          "lists whose outcomes arrived, else the synthetic world's past campaign), with the Qini curve and AUUC on held-out campaign customers and the saves "
                          "at capacity of uplift vs risk ranking vs random. Logged to MLflow; the gate's verdict is "
                          "the champion version's registry tag `retention.ranking` (uplift only when it wins "
                          "significantly), which retention_targets follows.")
    @explains_outages
    def uplift_model(context: dg.AssetExecutionContext, dataset: DatasetResource, mlflow: MlflowResource,
                     predictions_store: PredictionsStore, retention: RetentionPolicy) -> dg.MaterializeResult:
        import tempfile

        import joblib
        import mlflow as mlflow_api

        from churn_assets.core.retention import uplift as up
        from churn_assets.core.retention.plots import qini_png

        spec = dataset.spec()
        champion = mlflow.champion(context)
        from churn_assets.core.retention.campaign import lists_campaign

        history = spec.campaign_history
        own = None if history else lists_campaign(predictions_store.predictions_url, spec, retention.campaign,
                                                  retention.csv_dir, dataset.batches())
        if own is not None:
            raw, counts = own
            source, tcol, ocol = (f"campaign {retention.campaign!r}'s own lists with outcomes ({counts['days']} days, "
                                  f"{counts['unknown_ids']} unknown ids, {counts['awaiting']} awaiting)"), "treated", \
                "churned"
        elif history:
            from churn_assets.core.data.sources import read_file

            source, tcol, ocol = history["path"], history.get("treatment_column", "treated"), \
                history.get("outcome_column", "churned")
            from churn_assets.core.data.personal import drop_personal

            with data_failures(source):
                raw, _ = drop_personal(read_file(source), spec.pii_columns)
        elif spec.source.kind == "synthetic":
            from churn_assets.core.data.synthetic import DEFAULT_AS_OF, generate_customers
            from churn_assets.core.retention.world import past_campaign

            source, tcol, ocol = "the synthetic world's past campaign (40,000 customers, 50% treated)", "treated", \
                "churned"
            raw = past_campaign(generate_customers(40_000, seed=dataset.seed + 20_000, with_labels=False,
                                                   id_prefix="P"), DEFAULT_AS_OF, seed=dataset.seed)
        else:
            raise dg.Failure(f"dataset spec '{spec.name}' has no `campaign_history` section: name a past randomized "
                             "campaign, e.g. `campaign_history: {path: past_campaign.csv, treatment_column: treated, "
                             "outcome_column: churned}`", allow_retries=False)
        with data_failures(source):
            frame, quarantined = up.campaign_customers(raw, champion.contract, tcol, ocol, source)
            train, hold = up.split(frame, 0.3, retention.seed)
            model = up.fit_uplift(train, champion.contract, seed=retention.seed)
        u, risk = model.predict(hold), model.risk(hold)
        curves = {"uplift": up.qini_curve(u, hold["_treated"], hold["_churned"]),
                  "risk": up.qini_curve(risk, hold["_treated"], hold["_churned"])}
        areas = {k: up.auuc(c, len(hold)) for k, c in curves.items()}
        cmp_ = up.compare_at_capacity({"uplift": u, "risk": risk}, hold["_treated"], hold["_churned"],
                                      retention.uplift_capacity_share, resamples=retention.resamples,
                                      seed=retention.seed, confidence=retention.confidence)
        verdict = up.gate(cmp_)
        png = qini_png(curves)
        with mlflow.step(context) as run_id, tempfile.TemporaryDirectory() as tmp:
            mlflow_api.log_metrics({"uplift_auuc": areas["uplift"]["auuc"],
                                    "uplift_qini": areas["uplift"]["qini_coefficient"],
                                    "risk_qini": areas["risk"]["qini_coefficient"],
                                    **{f"saves_at_capacity_{k}": v for k, v in cmp_["saves"].items()}})
            mlflow_api.set_tags({RANKING_TAG: verdict.ranking, "retention.gate_reason": verdict.reason[:500]})
            joblib.dump(model, f"{tmp}/model.joblib")
            mlflow_api.log_artifact(f"{tmp}/model.joblib", "uplift")
            with open(f"{tmp}/qini.png", "wb") as f:
                f.write(png)
            mlflow_api.log_artifact(f"{tmp}/qini.png", "uplift")
        client = mlflow.client()
        client.set_model_version_tag(champion.name, champion.version, RANKING_TAG, verdict.ranking)
        client.set_model_version_tag(champion.name, champion.version, UPLIFT_RUN_TAG, run_id)
        rows = [{"ranking": k, "saves_at_capacity": number(v), "interval": f"[{cmp_['saves_ci'][k][0]:.1f}, "
                 f"{cmp_['saves_ci'][k][1]:.1f}]"} for k, v in cmp_["saves"].items()]
        return dg.MaterializeResult(metadata={
            "ranking": verdict.ranking, "gate": verdict.reason, "source": source,
            "campaign_customers": len(frame), "quarantined_rows": quarantined, "held_out": len(hold),
            "capacity_share": retention.uplift_capacity_share,
            "uplift_auuc": number(areas["uplift"]["auuc"]),
            "uplift_qini_coefficient": number(areas["uplift"]["qini_coefficient"]),
            "risk_qini_coefficient": number(areas["risk"]["qini_coefficient"]),
            "at_capacity": table(rows), "qini_curve": image(png, "Qini curve"),
            "registry_tag": f"{champion.name} v{champion.version}: {RANKING_TAG}={verdict.ranking}",
            "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run_id)),
        })

    return [retention_targets, campaign_readout, uplift_model]
