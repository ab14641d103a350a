"""`churn-assets demo`, the README's first command, end to end on a small synthetic set through the
real CLI in a subprocess: training, the served sample, live drift, the loop that learns, the A/B
readout and the retention demo. Its console has no DEBUG lines, and every run it leaves is an
ordinary run of the code location (the UI's Overview and Jobs pages list them)."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from churn_assets.model.settings import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def test_the_demo_end_to_end(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "MLFLOW_"))}
    env.update({"CHURN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
                "BENTOML_HOME": str(home / "bentoml"), "CHURN_CARD_BOOTSTRAP": "50"})
    out = subprocess.run([sys.executable, "-m", "churn_assets.cli", "demo", "--rows", "3000", "--trials", "3"],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1700, check=False)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-5000:]
    for needle in ("model card", "The loop that learns", "retrain_sensor", "From churn scores to saved customers"):
        assert needle in out.stdout, (needle, out.stdout[-4000:])
    assert " - DEBUG - " not in text, [ln for ln in text.splitlines() if " - DEBUG - " in ln][:5]
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        runs = instance.get_runs()
        jobs = {r.job_name for r in runs}
        assert {"churn_training", "churn_scoring", "churn_outcomes"} <= jobs, jobs
        assert [r for r in runs if r.status != dg.DagsterRunStatus.SUCCESS] == []
        assert [r.job_name for r in runs if r.remote_job_origin is None] == []  # every run listed in the UI
