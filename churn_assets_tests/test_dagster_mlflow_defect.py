"""Why the project has its own thin MLflow resource: proof that dagster-mlflow (the user's chosen
integration) leaves the MLflow run of a *failed* Dagster run FINISHED with mlflow 3 under the
multiprocess executor (the default of deployed runs): the failing step's process re-opens the
run and mlflow's exit handler closes it as FINISHED.

If this test starts failing, upstream fixed the defect: revisit the README decision and
consider switching back to dagster-mlflow.
"""

import os
import subprocess
import sys
import textwrap

import mlflow
import pytest

pytestmark = pytest.mark.integration

JOB = textwrap.dedent("""
    import dagster as dg
    from dagster_mlflow import end_mlflow_on_run_finished, mlflow_tracking

    @dg.op(required_resource_keys={"mlflow"})
    def log_ok(context):
        context.resources.mlflow.log_metric("first", 1.0)
        return 1

    @dg.op(required_resource_keys={"mlflow"})
    def log_then_fail(context, x):
        context.resources.mlflow.log_metric("before_failure", 1.0)
        raise RuntimeError("the step fails after logging")

    @end_mlflow_on_run_finished
    @dg.job(resource_defs={"mlflow": mlflow_tracking})
    def failing_job():
        log_then_fail(log_ok())
""")


def test_dagster_mlflow_marks_a_failed_run_finished(tmp_path):
    uri = f"sqlite:///{tmp_path}/dm.db"
    (tmp_path / "job.py").write_text(JOB)
    (tmp_path / "run.yaml").write_text(
        f"resources:\n  mlflow:\n    config:\n      experiment_name: defect\n      mlflow_tracking_uri: {uri}\n")
    (tmp_path / "home").mkdir()
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    out = subprocess.run([dagster, "job", "execute", "-f", "job.py", "-j", "failing_job", "-c", "run.yaml"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
                         env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")})
    assert "RUN_FAILURE" in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]
    client = mlflow.tracking.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("defect").experiment_id])
    assert len(runs) == 1 and runs[0].data.metrics["before_failure"] == 1.0
    # The defect: the Dagster run failed, yet its MLflow run says FINISHED.
    assert runs[0].info.status == "FINISHED"
