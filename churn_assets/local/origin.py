"""Runs executed in this process that are ordinary runs of the code location (private Dagster APIs:
here only, with a behavioural test in churn_assets_tests/test_run_origin.py).

``dagster.execute_job`` and ``JobDefinition.execute_in_process`` create runs without a code-location
origin: the UI's Overview and Jobs pages, which list a job's runs by the repository label of that
origin (the hidden tag ``.dagster/repository``), do not show them, and the Runs page cannot
re-execute them. A run launched from the UI or by ``dagster job launch`` carries the origin of
workspace.yaml's code location. Here the same origin is computed from workspace.yaml (no code server
is started) and given to the run when it is created; the run is then executed in this process as
``execute_job`` would execute it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.workspace.load_target import WorkspaceFileTarget

from churn_assets.model.settings import PROJECT_ROOT

WORKSPACE = PROJECT_ROOT / "workspace.yaml"
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a `@dg.definitions` module


def remote_job_origin(job_name: str, workspace: Path = WORKSPACE) -> RemoteJobOrigin:
    """The origin a run of ``job_name`` launched through ``workspace`` carries."""
    [location] = WorkspaceFileTarget(paths=[str(workspace)]).create_origins()
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, REPOSITORY), job_name)


def execute(recon_job: dg.ReconstructableJob, instance: dg.DagsterInstance, run_config: Mapping[str, Any],
            tags: Mapping[str, str] | None = None):
    """Create the run with the code location's origin, then execute it here (``execute_job``'s steps)."""
    job_def = recon_job.get_definition()
    run = instance.create_run_for_job(job_def=job_def, run_config=dict(run_config), tags=dict(tags or {}),
                                      job_code_origin=recon_job.get_python_origin(),
                                      remote_job_origin=remote_job_origin(job_def.name))
    return execute_run(recon_job, run, instance, raise_on_error=False)
