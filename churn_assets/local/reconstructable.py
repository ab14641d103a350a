"""Module-level job factories for `dagster.reconstructable` (the multiprocess executor and
`dagster.execute_job` re-import jobs in each step process)."""

from churn_assets.definitions import defs


def churn_training_job():
    return defs().resolve_job_def("churn_training")


def churn_scoring_job():
    return defs().resolve_job_def("churn_scoring")
