"""Runs that resume: a tuning worker's process is SIGKILLed in the middle of the Optuna study, and
Dagster's re-execution from failure finishes the run on the SAME study (real multiprocess runs)."""

from __future__ import annotations

import os
import signal
import time

import dagster as dg
import mlflow
import optuna
import pytest

from churn_assets.core.training import tracking
from churn_assets.local.runs import multiprocess
from churn_assets_tests.conftest import settings
from churn_assets_tests.faults import (
    JobThread,
    latest_run_id,
    materialize_upstream,
    step_events,
    step_pid,
    worker_trials,
)
from churn_assets_tests.pg import requires_pg, temp_database

pytestmark = [pytest.mark.faults, requires_pg]

N_TRIALS, WORKERS = 12, 2
VICTIM = "tuned_model.tune_worker[worker_1]"


def _kill_mid_trial(instance, optuna_url: str, deadline: float, known: set[str]) -> dict:
    """SIGKILL worker 1's process once it finished 2 trials, at a moment it has one RUNNING: the process
    is frozen (SIGSTOP) first, so the check and the kill see the same state (deterministic)."""
    run_id = latest_run_id(instance, deadline, known)  # the tuning run (the upstream run finished before)
    study = f"churn-{run_id}"
    while time.time() < deadline:
        pid = step_pid(instance, run_id, VICTIM)
        mine = worker_trials(optuna_url, study, run_id, 1) if pid else []
        if pid and sum(t.state.is_finished() for t in mine) >= 2:
            os.kill(pid, signal.SIGSTOP)
            running = [t.number for t in worker_trials(optuna_url, study, run_id, 1)
                       if t.state == optuna.trial.TrialState.RUNNING]
            if running:
                os.kill(pid, signal.SIGKILL)
                return {"run_id": run_id, "pid": pid, "running": running}
            os.kill(pid, signal.SIGCONT)  # between two trials: let it start the next one
        time.sleep(0.1)
    raise TimeoutError("worker 1 never had a running trial to kill")


@pytest.mark.timeout(2400)
def test_sigkilled_tuning_worker_resumes_same_study_on_reexecution(isolated, instance):
    from churn_assets.local.reconstructable import job as training_job

    with temp_database("churn_resume") as optuna_url:
        s = settings(isolated, optuna_storage=optuna_url, synthetic_rows=3000)
        job = training_job("churn_training", s)
        materialize_upstream(job, instance)
        # In-run retries off for this run: the kill must fail it, so that re-execution is what resumes.
        config = {"ops": {"tuned_model": {"config": {"n_trials": N_TRIALS, "workers": WORKERS,
                                                     "threads_per_worker": 1}}},
                  "execution": {"config": multiprocess(max_concurrent=2, retries={"disabled": {}})}}
        first = JobThread(job=job, instance=instance, run_config=config, asset_selection=[dg.AssetKey("tuned_model")])
        known = {r.run_id for r in instance.get_runs()}
        first.start()
        killed = _kill_mid_trial(instance, optuna_url, deadline=time.time() + 900, known=known)
        assert first.outcome(900)["success"] is False
        run1, study_name = killed["run_id"], f"churn-{killed['run_id']}"
        failed = [e for e in step_events(instance, run1, "STEP_FAILURE")]
        assert [e.step_key for e in failed] == [VICTIM]
        before = {t.number: t for t in optuna.load_study(study_name=study_name, storage=optuna_url).trials
                  if t.state.is_finished()}
        assert 0 < len(before) < N_TRIALS

        # Dagster's re-execution from failure (what the UI's "Re-execute from failure" launches).
        with dg.execute_job(job, instance=instance,
                            reexecution_options=dg.ReexecutionOptions.from_failure(run1, instance)) as second:
            assert second.success
            run2 = second.run_id
        # Only the killed worker and what follows it ran again.
        rerun = {e.step_key for e in step_events(instance, run2, "STEP_START")}
        assert VICTIM in rerun and "tuned_model.tune_worker[worker_0]" not in rerun
        assert "tuned_model.prepare_tuning" not in rerun

        trials = optuna.load_study(study_name=study_name, storage=optuna_url).trials
        finished = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
        assert len(finished) == N_TRIALS  # the configured total: kept + the remainder, none repeated
        for number, t in before.items():  # completed trials kept, untouched
            assert trials[number].state == t.state and trials[number].params == t.params
            assert trials[number].datetime_complete == t.datetime_complete
        for n in killed["running"]:  # the trial the kill interrupted: FAIL, not counted
            assert trials[n].state == optuna.trial.TrialState.FAIL
        assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        assert len(trials) == N_TRIALS + len(killed["running"])
        per_worker = sorted(sum(1 for t in finished if t.user_attrs["worker"] == w) for w in range(WORKERS))
        assert per_worker == [N_TRIALS // WORKERS] * WORKERS
        assert len({tuple(sorted(t.params.items())) for t in finished}) == N_TRIALS  # no parameter set twice

        meta = instance.fetch_materializations(dg.AssetKey("tuned_model"), limit=1).records[0] \
            .event_log_entry.asset_materialization.metadata
        assert meta["study"].value == study_name and meta["trials_finished"].value == N_TRIALS
        assert meta["trials_kept_from_earlier_attempts"].value > 0

        # MLflow: the killed run's run FAILED, the re-execution's FINISHED; each finished trial logged once.
        client = mlflow.tracking.MlflowClient(s.mlflow_tracking_uri)
        exp_id = client.get_experiment_by_name("churn_assets").experiment_id
        m1, m2 = tracking.find_run(client, exp_id, run1), tracking.find_run(client, exp_id, run2)
        assert client.get_run(m1).info.status == "FAILED"
        assert client.get_run(m2).info.status == "FINISHED"
        assert client.get_run(m2).data.tags["dagster.parent_run_id"] == run1
        children = [c for m in (m1, m2) for c in client.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{m}'")]
        assert sorted(c.info.run_name for c in children) == sorted(f"trial-{t.number}" for t in finished)
        kept = sum(1 for t in finished if t.number in before)
        print(f"\nresumed: {kept} trials kept, {len(killed['running'])} interrupted (FAIL), "
              f"{N_TRIALS - kept} run by the re-execution; {N_TRIALS} finished, 0 repeated")


@pytest.mark.timeout(2400)
def test_sigkilled_tuning_worker_is_retried_in_the_same_run(isolated, instance):
    """With in-run retries on (the default), the crashed worker is retried by its RetryPolicy and
    resumes the study in the same run: no re-execution needed, the same counts."""
    from churn_assets.local.reconstructable import job as training_job

    with temp_database("churn_resume") as optuna_url:
        s = settings(isolated, optuna_storage=optuna_url, synthetic_rows=3000)
        job = training_job("churn_training", s)
        materialize_upstream(job, instance)
        config = {"ops": {"tuned_model": {"config": {"n_trials": N_TRIALS, "workers": WORKERS,
                                                     "threads_per_worker": 1}}},
                  "execution": {"config": multiprocess(max_concurrent=2)}}
        known = {r.run_id for r in instance.get_runs()}
        run = JobThread(job=job, instance=instance, run_config=config, asset_selection=[dg.AssetKey("tuned_model")])
        run.start()
        killed = _kill_mid_trial(instance, optuna_url, deadline=time.time() + 900, known=known)
        assert run.outcome(900)["success"] is True
        assert [e.step_key for e in step_events(instance, killed["run_id"], "STEP_UP_FOR_RETRY")] == [VICTIM]
        trials = optuna.load_study(study_name=f"churn-{killed['run_id']}", storage=optuna_url).trials
        states = [t.state.name for t in trials]
        assert states.count("COMPLETE") + states.count("PRUNED") == N_TRIALS
        assert [trials[n].state.name for n in killed["running"]] == ["FAIL"] * len(killed["running"])
        assert "RUNNING" not in states and len(trials) == N_TRIALS + len(killed["running"])
