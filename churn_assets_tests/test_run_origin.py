"""Runs the demo executes in its own process are ordinary runs of the code location: they carry the
origin that `dagster job launch` (and the UI) gives a run, so the UI's Overview and Jobs pages,
which list a job's runs by that origin's repository label, show them (churn_assets/local/origin.py)."""

import dagster as dg
import pytest

from churn_assets.local import launch, runs
from churn_assets.local.origin import remote_job_origin
from churn_assets_tests.conftest import settings

pytestmark = pytest.mark.integration  # `dagster job launch` in a subprocess

LABEL = ".dagster/repository"  # the hidden tag the UI filters a job's runs by (dagster_graphql: resolve_runs)


def test_an_in_process_run_has_the_origin_of_a_launched_run(tmp_path):
    s = settings(home=tmp_path, dagster_home=tmp_path / "dagster_home", mlflow_tracking_uri=f"sqlite:///{tmp_path}/m.db",
                 model_name="origin-test")
    launched_id = launch.launch(s, "churn_scoring", {"dagster/partition": "2025-07-03"})  # queued: no daemon
    with dg.DagsterInstance.from_config(str(s.dagster_home)) as instance:
        launched = instance.get_run_by_id(launched_id)
        # No champion yet: the in-process run fails with its reason, but it is a run of the code location.
        ran = runs.execute("churn_scoring", instance, s, partition="2025-07-03", raise_on_error=False)
        assert not ran.success
        assert "no champion of 'origin-test'" in runs.failures(ran)[0]
        mine = instance.get_run_by_id(ran.run_id)
        assert mine.remote_job_origin == launched.remote_job_origin == remote_job_origin("churn_scoring")
        label = mine.remote_job_origin.repository_origin.get_label()  # stored as the run's LABEL tag
        assert label == "__repository__@churn_assets"
        listed = instance.get_runs(filters=dg.RunsFilter(job_name="churn_scoring", tags={LABEL: label}))
        assert {r.run_id for r in listed} == {ran.run_id, launched_id}


def test_a_plain_execute_job_run_is_not_listed():
    """What the UI missed before: Dagster's own in-process execution gives no origin (if Dagster ever
    does, origin.py can go)."""
    @dg.op
    def one():
        return 1

    @dg.job
    def plain():
        one()

    with dg.instance_for_test() as instance:
        run = instance.get_run_by_id(plain.execute_in_process(instance=instance).run_id)
        assert run.remote_job_origin is None
        assert not instance.get_runs(filters=dg.RunsFilter(tags={LABEL: "__repository__@churn_assets"}))
