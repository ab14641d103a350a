"""A job that crosses process boundaries is built from the settings of the moment it is asked for.

Dagster caches the job a ``ReconstructableJob`` resolved (``get_definition`` is an ``lru_cache``
keyed on the reconstructable's contents). With ``dagster.reconstructable(f)`` the key is f's name
only: the second home of a process got the first home's job, resources and all (seen in the suite:
a training run registered its champion in the store of the module before it)."""

import dagster as dg

from churn_assets.local import reconstructable
from churn_assets_tests.conftest import scoped_env, settings


def _store(job: dg.JobDefinition) -> str:
    return job.resource_defs["mlflow"].config_schema.default_value["tracking_uri"]  # the built resource's value


def _defs_job():  # what the project used before: dg.reconstructable of a function reading its environment
    from churn_assets.definitions import defs

    return defs().resolve_job_def("churn_training")


def test_dagster_keeps_the_first_job_of_a_plain_reconstructable(tmp_path):
    """The trap, shown on Dagster itself: same function, two homes, one cached job."""
    got = []
    for home in ("a", "b"):
        with scoped_env({"CHURN_HOME": str(tmp_path / home)}, unset=("MLFLOW_TRACKING_URI",)):
            got.append(_store(dg.reconstructable(_defs_job).get_definition()))
    assert got[0] == got[1] and str(tmp_path / "a") in got[1]  # b asked, a answered


def test_each_settings_get_their_own_job(tmp_path):
    a = settings(home=tmp_path / "a", mlflow_tracking_uri=f"sqlite:///{tmp_path}/a.db")
    b = settings(home=tmp_path / "b", mlflow_tracking_uri=f"sqlite:///{tmp_path}/b.db")
    job_a = reconstructable.job("churn_training", a).get_definition()
    job_b = reconstructable.job("churn_training", b).get_definition()
    assert (_store(job_a), _store(job_b)) == (a.mlflow_tracking_uri, b.mlflow_tracking_uri)
    # the default reads the environment at the call, as the code location does
    with scoped_env({"CHURN_HOME": str(tmp_path / "c")}, unset=("MLFLOW_TRACKING_URI",)):
        assert str(tmp_path / "c") in _store(reconstructable.job("churn_training").get_definition())


def test_a_step_process_rebuilds_the_job_from_what_was_sent(tmp_path):
    """The step process's environment says another home: the job follows the settings sent."""
    a = settings(home=tmp_path / "a", mlflow_tracking_uri=f"sqlite:///{tmp_path}/a.db", synthetic_rows=1234)
    recon = reconstructable.job("churn_training", a)
    with scoped_env({"CHURN_HOME": str(tmp_path / "elsewhere"), "CHURN_SYNTHETIC_ROWS": "999"},
                    unset=("MLFLOW_TRACKING_URI",)):
        job = reconstructable.rebuild(*recon.repository.pointer.reconstructable_args)
    assert _store(job) == a.mlflow_tracking_uri
    assert job.resource_defs["dataset"].config_schema.default_value["synthetic_rows"] == 1234
