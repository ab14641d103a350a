"""Demo step: champion and challenger on live traffic, then the experiment readout on their outcomes.

After the loop, a challenger of another family (logistic regression) is trained on the same data;
the registry gate judges it as usual. When it stays challenger, ``churn_bento`` packs both models,
the Bento serves them A/B (a stable hash of the customer id picks the arm), today's synthetic
customers are sent over HTTP, their outcomes arrive, and ``experiment_readout`` compares the arms.
"""

from __future__ import annotations

import datetime as dt
import json
import os

from churn_assets.local import runs
from churn_assets.model.settings import ServingSettings, Settings, env_names

CHALLENGER_FAMILY = "logistic_regression"


def champion_vs_challenger(instance, settings: Settings, rows: int | None = None, customers: int = 4000,
                           share: float = 0.5, trials: int = 6, echo=print, **scoring) -> dict | None:
    from churn_assets.core.data.batches import write_synthetic_labels
    from churn_assets.sim.experiment import batch_settings, experiment_records, print_readout
    from churn_assets.sim.serving import bento_on_loopback, post_json, pseudonym_env

    echo(f"\nChampion and challenger on live traffic: a {CHALLENGER_FAMILY} challenger, trained on the same "
         "data, is judged by the gate; if it stays challenger the Bento serves both, A/B:")
    defs = runs.load_defs(settings)
    cfg = runs.training(trials, rows=rows, defs=defs, **scoring)
    cfg["ops"]["tuned_model"]["config"]["families"] = [CHALLENGER_FAMILY]
    res = runs.execute(runs.TRAINING_JOB, instance, settings, run_config=cfg, tags={"churn/trigger": "demo-challenger"})
    reg = res.output_for_node("registered_model")
    echo(f"  {reg['name']} v{reg['version']} ({CHALLENGER_FAMILY}): "
         f"{'PROMOTED' if reg['promoted'] else 'stays challenger'} ({reg['reason']})")
    bento = {k: v.value for k, v in res.asset_materializations_for_node("churn_bento")[-1].metadata.items()}
    if not bento.get("challenger_tag"):
        echo(f"  no separate challenger to serve ({bento.get('challenger', 'promoted')}): A/B skipped")
        return None
    import bentoml

    from churn_assets.model.contract import DataContract

    contract = DataContract.from_json(bentoml.models.get(bento["model_tag"]).info.metadata["contract"])
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    records = experiment_records(day, customers, contract, settings)
    key = os.urandom(16).hex()
    names = env_names(ServingSettings)
    env = {names["api_keys"]: key, names["prediction_log_url"]: defs.resources["prediction_log"].prediction_log_url,
           names["serving_mode"]: "ab", names["ab_challenger_share"]: str(share), **pseudonym_env(settings)}
    arms: dict[str, int] = {}
    with bento_on_loopback(bento["bento_tag"], env, "ab") as (base, _):
        for i in range(0, len(records), 500):
            status, answers = post_json(base + "/predict_batch", {"customers": records[i:i + 500]}, key)
            if status != 200:
                raise RuntimeError(f"/predict_batch answered {status}: {json.dumps(answers)[:300]}")
            for a in answers:
                arm = f"{a['arm']} v{a['model_version']}"
                arms[arm] = arms.get(arm, 0) + 1
    echo(f"  served {len(records):,} of today's customers over HTTP, A/B {1 - share:.0%}/{share:.0%} by customer id: "
         + ", ".join(f"{k}: {v:,}" for k, v in sorted(arms.items())))
    write_synthetic_labels(day, batch_settings(customers, settings), str(settings.labels_dir))
    echo(f"  their outcomes arrived ({settings.labels_dir}/{day}.csv); experiment_readout[{day}]:")
    return print_readout(day, instance, settings=settings, echo=lambda line: echo("  " + line))
