"""`make demo`: the whole graph on the embedded default, then a summary a newcomer can act on."""

from __future__ import annotations

import os
import time

TRAINING_JOB = "churn_training"


def _defs():
    from churn_assets.definitions import defs

    return defs()


def train(trials: int, instance=None, job_name: str = TRAINING_JOB, tags: dict | None = None):
    """Run the training job in-process on the persistent instance (visible later in `dagster dev`)."""
    import dagster as dg

    instance = instance or dg.DagsterInstance.get()
    job = _defs().resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance, tags=tags or {},
        run_config={"ops": {"tuned_model": {"config": {"n_trials": trials}}}, **QUIET},
    )


# The demo prints its own summary; step-level DEBUG events stay in the run log (see `make dagster`).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def print_training_summary(result, seconds: float) -> None:
    tuned = result.output_for_node("tuned_model")
    ev = result.output_for_node("model_evaluation")
    reg = result.output_for_node("registered_model")
    m = ev["metrics"]
    uri = os.environ["MLFLOW_TRACKING_URI"]
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
    print(f"Dagster home {os.environ['DAGSTER_HOME']}")
    print(f"\nExplore:\n  make dagster     # dagster dev -w workspace.yaml  -> http://127.0.0.1:3000\n"
          f"  make mlflow-ui   # mlflow ui --backend-store-uri {uri}  -> http://127.0.0.1:5000\n{line}")


def run_demo(trials: int = 50, rows: int | None = None, serve: bool = True, loop: bool = True) -> int:
    import logging

    # MLflow's set-up chatter (schema creation, "Detected uv project", no pip in a uv venv) is noise here.
    for name in ("mlflow.store.db.utils", "mlflow.utils.uv_utils", "mlflow.utils.environment"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if rows:
        os.environ["CHURN_SYNTHETIC_ROWS"] = str(rows)
    started = time.perf_counter()
    result = train(trials)
    if not result.success:
        print("training run failed; see the Dagster run log")
        return 1
    print_training_summary(result, time.perf_counter() - started)
    if serve:
        from churn_assets.demo_serving import drifted_traffic, served_sample

        served_sample()
        drifted_traffic()
    if loop:
        from churn_assets.core.spec import load_spec
        from churn_assets.demo_loop import monitoring_loop

        spec = load_spec(os.environ.get("CHURN_DATASET") or None)
        if spec.source.kind != "synthetic" and not spec.scoring:
            print(f"\nMonitoring loop skipped: dataset spec '{spec.name}' has no `scoring` section "
                  "(where each day's customers are); see README, 'Bring your own data'.")
        else:
            monitoring_loop(trials=min(trials, 20))
    return 0
