"""`make demo`: the whole graph on the embedded default, then a summary a newcomer can act on."""

from __future__ import annotations

import time

from churn_assets.local.runs import train
from churn_assets.model.settings import Settings


def print_training_summary(result, seconds: float, settings: Settings) -> None:
    tuned = result.output_for_node("tuned_model")
    ev = result.output_for_node("model_evaluation")
    reg = result.output_for_node("registered_model")
    m = ev["metrics"]
    uri = settings.mlflow_tracking_uri
    line = "-" * 72
    print(f"\n{line}\nchurn_assets demo: graph materialized in {seconds:.0f}s "
          f"(Dagster run {result.run_id[:8]}, dataset '{tuned.contract.dataset}')\n{line}")
    print(f"model        {tuned.family}  (best CV {tuned.best_cv_score:.4f}; trials: "
          f"{tuned.trials['complete']} complete, {tuned.trials['pruned']} pruned)")
    print(f"threshold    {tuned.threshold:.4f} (max F1 on validation)")
    print("test split   " + "  ".join(f"{k}={m[k]:.3f}" for k in
                                      ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier")))
    print(f"registry     {reg['name']} v{reg['version']}: "
          f"{'champion' if reg['promoted'] else 'challenger'} ({reg['reason']})")
    print(f"MLflow       run {tuned.mlflow_run_id} in {uri}")
    print(f"plots        {ev['plots_dir']}/{{roc,pr,calibration,importance}}.png")
    print_explained(result, tuned)
    print(f"Dagster home {settings.dagster_home}")
    print(f"\nExplore:\n  make dagster     # dg dev -w workspace.yaml  -> http://127.0.0.1:3000 (DAGSTER_PORT)\n"
          f"  make mlflow-ui   # mlflow ui on {uri}  -> {settings.mlflow_ui_url} (MLFLOW_UI_URL)\n{line}")


def print_explained(result, tuned) -> None:
    """One test customer explained in-process (model/explain.py) and where the model card is."""
    from churn_assets.model.explain import PipelineExplainer

    test = result.output_for_node("training_splits").test.head(200)
    ex = PipelineExplainer(tuned.pipeline).explain_frame(test)
    i = int(ex.probability.argmax())  # the riskiest of the first 200 test customers
    print(f"explained    customer {test[tuned.contract.id_column].iloc[i]}: p={ex.probability[i]:.3f}, base "
          f"{ex.base_value:+.3f} ({ex.space}); top reasons: {', '.join(r for r in ex.reasons(3)[i] if r)}")
    for e in result.get_asset_materialization_events():
        if e.asset_key.to_user_string() == "model_card":
            print(f"model card   {e.event_specific_data.materialization.metadata['card_path'].value}")


def run_demo(settings: Settings, trials: int = 50, rows: int | None = None, serve: bool = True, loop: bool = True,
             executor: str = "in_process") -> int:
    """The demo on ``settings`` (the CLI reads them once and passes them in)."""
    import logging

    from churn_assets.local.instance import local_instance

    # MLflow's set-up chatter (schema creation, "Detected uv project", no pip in a uv venv) is noise here.
    for name in ("mlflow.store.db.utils", "mlflow.utils.uv_utils", "mlflow.utils.environment"):
        logging.getLogger(name).setLevel(logging.ERROR)
    instance = local_instance(settings)
    started = time.perf_counter()
    result = train(trials, instance, tags={"churn/trigger": "manual"}, rows=rows, executor=executor, settings=settings)
    if not result.success:
        print("training run failed; see the Dagster run log")
        return 1
    print_training_summary(result, time.perf_counter() - started, settings)
    tuned = result.output_for_node("tuned_model")
    if serve:
        from churn_assets.sim.serving import drifted_traffic, served_sample

        served_sample()
        drifted_traffic(settings, instance=instance)
    if loop:
        from churn_assets.core.data.spec import load_spec
        from churn_assets.sim.loop import monitoring_loop

        spec = load_spec(settings.dataset or None)
        if spec.source.kind != "synthetic" and not spec.scoring:
            print(f"\nMonitoring loop skipped: dataset spec '{spec.name}' has no `scoring` section "
                  "(where each day's customers are); see README, 'Bring your own data'.")
        else:
            loop_result = monitoring_loop(instance, settings, trials=min(trials, 20), rows=rows, serve=serve)
            if serve and loop_result.get("retrained") and spec.source.kind == "synthetic":
                from churn_assets.sim.ab import champion_vs_challenger
                from churn_assets.sim.loop import SHIFT_FROM

                champion_vs_challenger(instance, settings, rows=rows, trials=min(trials, 6), shift_from=SHIFT_FROM)
    if loop and tuned.contract.dataset == "synthetic":  # the simulated campaign needs the world's ground truth
        from churn_assets.sim.retention import retention_demo

        print("\nFrom churn scores to saved customers (docs/RETENTION.md):")
        retention_demo(pipeline=tuned.pipeline)
    return 0
