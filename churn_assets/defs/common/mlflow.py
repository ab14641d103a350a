"""MLflow tracking and registry as a ConfigurableResource (a thin one: see core/training/tracking.py)."""


import contextlib
from collections.abc import Iterator

import dagster as dg

CHAMPION_TAG = "churn/champion_version"
# Scoring, monitoring and the readout use the registry's champion: declared (the external asset
# `champion_model`), so the lineage graph shows it. Each run pins the champion version once
# (MlflowResource.pinned_champion) and every step uses that version.
CHAMPION_DEP = dg.AssetDep("champion_model", partition_mapping=dg.AllPartitionMapping())


class MlflowResource(dg.ConfigurableResource):
    tracking_uri: str
    experiment: str = "churn_assets"
    artifact_root: str = ""
    model_name: str = "churn-classifier"
    ui_url: str = "http://127.0.0.1:5000"

    def client(self):
        """An ``MlflowClient`` (mlflow is imported on first use: it costs seconds at load)."""
        from churn_assets.core.training import tracking

        return tracking.client(self.tracking_uri)

    def experiment_id(self) -> str:
        # A local artifact folder only makes sense for a local store; a tracking server uses its own.
        local = not self.tracking_uri.startswith(("http://", "https://", "databricks"))
        root = self.artifact_root if (local or "://" in self.artifact_root) else ""
        from churn_assets.core.training import tracking

        return tracking.ensure_experiment(self.client(), self.experiment, root or None)

    def run_id_for(self, context: dg.OpExecutionContext | dg.AssetExecutionContext) -> str:
        """The MLflow run of this Dagster run, tagged with its id (created on first use)."""
        from churn_assets.core.training import tracking

        dagster_run = context.run
        tags = {"dagster.job": dagster_run.job_name,
                tracking.NOTE: tracking.run_note(dagster_run.job_name, dagster_run.run_id, dagster_run.tags)}
        parent = dagster_run.parent_run_id
        if parent:  # a re-execution: its own MLflow run, linked to the run it resumes
            tags |= {"dagster.parent_run_id": parent, "dagster.root_run_id": dagster_run.root_run_id}
            self._fail_parent(context, parent)
        return tracking.parent_run(
            self.client(), self.experiment_id(), dagster_run.run_id,
            run_name=f"{dagster_run.job_name}-{dagster_run.run_id[:8]}", tags=tags,
        )

    def _fail_parent(self, context, parent_run_id: str) -> None:
        """The failed run this one re-executes ends FAILED in MLflow even when no daemon ran the
        run-failure sensor (e.g. its step process was killed, so nothing in it could say so)."""
        from churn_assets.core.training import tracking

        parent = context.instance.get_run_by_id(parent_run_id)
        if parent is not None and parent.status == dg.DagsterRunStatus.FAILURE:
            tracking.mark_failed(self.client(), self.experiment, parent_run_id)

    @contextlib.contextmanager
    def step(self, context) -> Iterator[str]:
        """Resume this Dagster run's MLflow run for one step (FAILED if the step raises)."""
        from churn_assets.core.training import tracking

        run_id = self.run_id_for(context)
        with tracking.active(run_id):
            yield run_id

    @contextlib.contextmanager
    def failing(self, run_id: str) -> Iterator[None]:
        """For steps that log through the client only: an exception marks the run FAILED."""
        try:
            yield
        except BaseException:
            self.client().set_terminated(run_id, "FAILED")
            raise

    def pinned_champion(self, context) -> str | None:
        """The champion version of this run: resolved once (by the first step that asks, or by the
        sensor that launched the run) and kept as the run tag ``churn/champion_version``, so every
        step of a run uses the same model even if a promotion happens meanwhile."""
        from churn_assets.core.registry.model_registry import champion_version

        run_id = context.run.run_id
        tags = context.instance.get_run_by_id(run_id).tags  # fresh: an earlier step may have pinned it
        if CHAMPION_TAG in tags:
            return None if tags[CHAMPION_TAG] == "none" else tags[CHAMPION_TAG]
        version = champion_version(self.client(), self.model_name)
        context.instance.add_run_tags(run_id, {CHAMPION_TAG: version or "none"})
        return version

    def champion(self, context):
        """The pinned champion with what scoring needs (a clear failure when there is none)."""
        from churn_assets.core.registry.champion import load_champion

        version = self.pinned_champion(context)
        if version is None:
            raise dg.Failure(f"no champion of '{self.model_name}' in {self.tracking_uri}: run the churn_training "
                             "job first", allow_retries=False)
        return load_champion(self.client(), self.model_name, version=version)

    def run_url(self, run_id: str) -> str:
        from churn_assets.core.training import tracking

        return tracking.run_url(self.tracking_uri, self.experiment_id(), run_id, self.ui_url)
