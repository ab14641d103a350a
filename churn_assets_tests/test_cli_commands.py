"""`churn-assets train | score | backfill | status`: thin calls into Dagster that leave ordinary runs
in the instance (created from the code location: origin, partition, tags) and a status summary."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from churn_assets.local import launch
from churn_assets.model.settings import PROJECT_ROOT


def test_commands_are_named_for_what_they_do():
    from churn_assets.cli import main

    for argv in (["score"], ["backfill", "--from", "2025-07-01"], ["train", "--executor", "threads"]):
        with pytest.raises(SystemExit) as err:
            main(argv)
        assert err.value.code == 2
    assert launch.executor_config(None) == {}
    assert launch.executor_config("in_process") == {"execution": {"config": {"in_process": {}}}}


def test_training_tags_record_the_window_and_the_champion(isolated, instance):
    from churn_assets.core.data.window import WINDOW_TAG
    from churn_assets.core.training import tracking

    client = tracking.client(isolated.mlflow_tracking_uri)
    tags = launch.training_tags(instance, client, isolated.model_name)
    assert tags == {"churn/trigger": "cli", WINDOW_TAG: "none"}  # no labelled day, no champion yet
    for day in ("2025-07-02", "2025-07-01"):
        instance.report_runless_asset_event(dg.AssetMaterialization("labelled_outcomes", partition=day))
    assert launch.training_tags(instance, client, "m")[WINDOW_TAG] == "2025-07-01,2025-07-02"


def test_status_of_an_empty_instance(isolated, instance):
    from churn_assets.core.training import tracking

    state = launch.status(instance, tracking.client(isolated.mlflow_tracking_uri), "nothing-yet")
    assert state["champion"] is None and state["last_scored_day"] is None and state["runs_in_flight"] == []
    text = launch.format_status(state)
    assert "champion v-" in text and "last scored  none" in text and "in flight    0 run(s)" in text


@pytest.mark.integration
def test_score_submits_an_ordinary_queued_run_and_status_lists_it(tmp_path):
    """No daemon: the submitted run waits in the queue, created from the code location."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHURN_", "MLFLOW_"))}
    env.update({"CHURN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
                "BENTOML_HOME": os.environ["BENTOML_HOME"]})

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "churn_assets.cli", *args], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=300, check=False)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    out = cli("score", "--day", "2025-07-03")
    run_id = out.split("churn_scoring run ", 1)[1].split()[0]
    state = json.loads(cli("status", "--json"))
    assert [(r["run_id"], r["job"], r["status"], r["partition"]) for r in state["runs_in_flight"]] == \
        [(run_id, "churn_scoring", "QUEUED", "2025-07-03")]
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.QUEUED and run.tags["dagster/partition"] == "2025-07-03"
        assert run.remote_job_origin is not None  # the code location's origin: the UI lists and re-executes it
        assert run.remote_job_origin.location_name == "churn_assets"
        assert run.tags["churn/trigger"] == "cli"
