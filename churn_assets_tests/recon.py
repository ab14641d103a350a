"""Reconstructable job targets: the multiprocess executor re-imports jobs in step processes."""

from churn_assets.definitions import defs


def churn_training_job():
    return defs().resolve_job_def("churn_training")
