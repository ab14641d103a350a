"""experiment_readout: champion vs challenger on the outcomes that arrived for a day of served traffic.

The Bento logs every answer with its arm (shadow mode: the challenger's answer too, not returned;
A/B mode: the arm that answered). Once the day's outcomes arrive (the spec's ``labels``, the
generator's on the synthetic default), this asset compares the arms with seeded bootstrap
intervals (core/experiment/readout.py). With ``CHURN_PROMOTION_BASIS=readout`` a `better` readout promotes
the challenger that was tested, by compare-and-set on the champion that was tested against it
(see docs/ARCHITECTURE.md for why the promotion happens here).
"""

import json

import dagster as dg

from churn_assets.defs.common.build import Build
from churn_assets.defs.common.dataset import DatasetResource
from churn_assets.defs.common.metadata import image, number, partitions_note, table
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.notifier import Notifier
from churn_assets.defs.common.predictions import PredictionLogStore
from churn_assets.defs.common.reports import Reports
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.experiment.resources import ExperimentPolicy
from churn_assets.model.pseudonym import IdHashing

CODE_VERSION = "1"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=b.live_daily, group_name="experiment", kinds={"sql", "numpy"}, code_version=CODE_VERSION,
              deps=["served_predictions"],
              description="Champion vs challenger on the outcomes that arrived for the day's served customers (the "
                          "prediction log's arms): per-arm customers, traffic share, ROC-AUC, PR-AUC, Brier score and "
                          "calibration error with seeded bootstrap intervals (paired in shadow mode), and whether the "
                          "challenger is better at the configured confidence. Promotes it when "
                          "CHURN_PROMOTION_BASIS=readout."
                          + partitions_note(b.settings.scoring_start, "the served traffic of that day",
                                            "days without served traffic and outcomes are never read out"),
              retry_policy=b.retry)  # idempotent: a promotion already made reads back as "already champion"
    @explains_outages
    def experiment_readout(context: dg.AssetExecutionContext, dataset: DatasetResource, prediction_log: PredictionLogStore,
                           experiment: ExperimentPolicy, mlflow: MlflowResource, notifier: Notifier,
                           reports: Reports, id_hashing: dg.ResourceParam[IdHashing]) -> dg.Output[dict]:
        from churn_assets.core.data.batches import load_labels
        from churn_assets.core.evaluation.plots import reliability_png
        from churn_assets.core.experiment import readout as exp
        from churn_assets.model import prediction_log as plog

        day, spec = context.partition_key, dataset.spec()
        log = plog.read_day(prediction_log.prediction_log_url, day)
        labels = load_labels(spec.labels, day, dataset.batches(), dataset.labels_dir)
        if labels is None:
            raise dg.Failure(f"no outcomes for {day} yet; readout_sensor materializes this partition when they arrive",
                             allow_retries=False)
        try:
            outcomes = exp.outcomes_frame(labels, spec.id_column, spec.target_column, spec.positive_label)
        except ValueError as err:
            raise dg.Failure(f"outcomes of {day}: {err}", allow_retries=False) from err
        outcomes = exp.with_pseudonyms(outcomes, id_hashing.ring())  # the log holds pseudonyms
        r = exp.read_out(log, outcomes, experiment.config())
        promotion = _promotion(context, r, experiment, mlflow, notifier, day)
        level = f"{r.confidence:.0%}"
        context.log.info(f"{day}: {r.decision} ({r.reason}); promotion: {promotion}")
        value = {"day": day, **r.as_dict(), "promotion": promotion}
        path = reports.folder("experiment") / f"readout-{day}.json"
        path.write_text(json.dumps(value, indent=2, default=str))
        meta = {
            "dagster/row_count": len(log),
            "decision": r.decision, "better": dg.MetadataValue.bool(r.better), "reason": r.reason,
            "design": r.design, "metric": r.metric, "confidence": number(r.confidence), "resamples": r.resamples,
            "arms": dg.MetadataValue.md(r.table().to_markdown(index=False) + f"\n\nmetric [{level} bootstrap interval]"),
            "counts": _counts(r.counts), "promotion": promotion,
            "report": dg.MetadataValue.path(str(path)),
        }
        for arm, a in r.arms.items():
            meta |= {f"{arm}_customers": a.customers, f"{arm}_outcomes": a.outcomes,
                     f"{arm}_served_share": number(a.served_share),
                     f"{arm}_versions": ", ".join(map(str, a.model_versions)) or "none"}
            meta |= {f"{arm}_{k}": number(v) for k, v in a.metrics.items()}
        if r.difference:
            k = r.metric
            lo, hi = r.difference_ci[k]
            meta |= {f"difference_{k}": number(r.difference[k]), f"difference_{k}_ci_low": number(lo),
                     f"difference_{k}_ci_high": number(hi),
                     f"difference_{k}_with_interval": f"{r.difference[k]:+.4f} [{lo:+.4f}, {hi:+.4f}] "
                                                      f"({level} bootstrap interval, challenger - champion)"}
            meta["reliability"] = image(reliability_png({a: r.arms[a].reliability for a in exp.ARMS}),
                                        f"reliability per arm on {day}")
        return dg.Output(value, metadata=meta)
    return [experiment_readout]



def _counts(c: dict) -> "dg.TableMetadataValue | str":
    """The readout's row accounting (log rows, repeats, awaiting outcome, ...) as a table, in its order."""
    return table([{"what": str(k).replace("_", " "), "rows": int(v)} for k, v in c.items()]) if c else "none"


def _promotion(context, r, experiment: ExperimentPolicy, mlflow: MlflowResource, notifier: Notifier, day: str) -> str:
    """What the readout did to the registry, in words (it only acts with CHURN_PROMOTION_BASIS=readout)."""
    if experiment.promotion_basis != "readout":
        return f"off (CHURN_PROMOTION_BASIS={experiment.promotion_basis}: the registry gate promotes)"
    if not r.better:
        return f"none: the readout is {r.decision.replace('_', ' ')}"
    champ, chal = r.arms["champion"].model_versions, r.arms["challenger"].model_versions
    if len(champ) != 1 or len(chal) != 1:
        return f"refused: one version per arm is needed, the log has champion {champ} and challenger {chal}"
    from churn_assets.core.registry import model_registry as registry

    name = mlflow.model_name
    outcome = registry.promote_on_readout(mlflow.client(), name, chal[0], champ[0], r.reason, day)
    if outcome.startswith("promoted"):
        context.log_event(dg.AssetMaterialization("champion_model", metadata={
            "model_name": name, "version": chal[0], "previous": champ[0], "reason": f"readout {day}: {r.reason}"}))
        notifier.send("promotion", f"{name} v{chal[0]} promoted to champion by the readout of {day}",
                      reason=r.reason, model=name, version=chal[0])
    elif outcome.startswith("refused"):
        context.log.warning(outcome)
    return outcome
