"""The real Dagster daemon on an instance configured like the embedded default (our dagster.yaml):

* two training runs in the queue at once: the run queue starts one, the other waits (tag
  `churn/training` is limited to 1), and they never overlap;
* after the demo's loop (runs launched in-process from the real sensors' requests), the daemon's
  own sensor ticks launch no duplicate: they recognize the runs by sensor name and run key.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from churn_assets.local import runs
from churn_assets.local.instance import ensure_instance_dir
from churn_assets.local.services import stop
from churn_assets.model.settings import PROJECT_ROOT, Settings
from churn_assets_tests.conftest import scoped_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]
IN_PROCESS = "execution:\n  config:\n    in_process: {}\nops:\n  tuned_model:\n    config:\n      n_trials: 2\n"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A persistent instance with one trained model and the demo's loop already run on it."""
    from churn_assets.sim.loop import monitoring_loop

    root = tmp_path_factory.mktemp("daemon")
    # BentoML keeps the session's store (it fixes its home on first import); the daemon's runs get it too.
    env = {"CHURN_HOME": str(root), "DAGSTER_HOME": str(root / "dagster_home"), "CHURN_BATCH_ROWS": "1200",
           "CHURN_SYNTHETIC_ROWS": "2500"}
    unset = ("MLFLOW_TRACKING_URI", "CHURN_MLFLOW_ARTIFACTS", "CHURN_OPTUNA_STORAGE", "CHURN_PREDICTIONS_URL",
             "CHURN_REPORTS_DIR", "CHURN_LABELS_DIR", "CHURN_LABELLED_DIR", "CHURN_MODEL_NAME")
    with scoped_env(env, unset=unset):  # every location under this CHURN_HOME
        settings = Settings()
        ensure_instance_dir(settings)
        with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
            assert runs.train(3, instance).success
            monitoring_loop(instance, settings, trials=3, serve=False, echo=lambda *_: None)
        yield {"env": {**os.environ}, "settings": settings, "root": root}


def _dagster(bin_name: str) -> str:
    return str(Path(sys.executable).parent / bin_name)


def _launch(env: dict, cfg: Path) -> None:
    out = subprocess.run([_dagster("dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "churn_training",
                          "-c", str(cfg), "--tags", '{"churn/trigger": "test"}'],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]


def _sensor_runs(instance) -> set[str]:
    return {r.run_id for name in ("retrain_sensor", "outcomes_sensor")
            for r in instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": name}))}


def _wait_for(log_path: Path, needles: list[str], deadline: float) -> str:
    text = ""
    while time.time() < deadline:
        text = log_path.read_text()
        if all(n in text for n in needles):
            return text
        time.sleep(1)
    raise AssertionError(f"daemon log lacks {needles}: {text[-3000:]}")


def test_the_daemon_repeats_no_sensor_run_and_serializes_training(home):
    env, settings = home["env"], home["settings"]
    cfg = home["root"] / "run.yaml"
    cfg.write_text(IN_PROCESS)
    log_path = home["root"] / "daemon.log"
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        before = _sensor_runs(instance)
        assert len(before) == 7  # 6 outcome days + 1 retrain, launched by the demo's loop
        # The demo's runs, executed in its process, are runs of the code location (the UI lists them).
        assert all(r.remote_job_origin is not None and r.remote_job_origin.location_name == "churn_assets"
                   for r in instance.get_runs())
        log = open(log_path, "w")
        daemon = subprocess.Popen([_dagster("dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=PROJECT_ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        one_waited, most_in_flight, deadline = False, 0, time.time() + 900
        try:
            # 1. The daemon's first ticks (cursor: none) see every event again and launch nothing:
            #    Dagster finds the demo's runs by sensor name and run key.
            _wait_for(log_path, ["Skipping 6 runs for sensor outcomes_sensor already completed",
                                 'Skipping 1 run for sensor retrain_sensor already completed with run keys: ["retrain-'],
                      deadline)
            assert _sensor_runs(instance) == before
            # 2. Two training runs queued at once: one runs, the other waits.
            _launch(env, cfg)
            _launch(env, cfg)
            while time.time() < deadline:
                statuses = [r.status for r in instance.get_runs(filters=dg.RunsFilter(tags={"churn/trigger": "test"}))]
                running = sum(s in (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED) for s in statuses)
                most_in_flight = max(most_in_flight, running)
                one_waited |= running == 1 and dg.DagsterRunStatus.QUEUED in statuses
                if all(s in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE) for s in statuses):
                    break
                time.sleep(0.5)
        finally:
            stop(daemon)
            log.close()
        text = log_path.read_text()
        done = instance.get_runs(filters=dg.RunsFilter(tags={"churn/trigger": "test"}))
        assert [r.status for r in done] == [dg.DagsterRunStatus.SUCCESS] * 2, text[-3000:]
        assert one_waited and most_in_flight == 1
        first, second = sorted((instance.get_run_record_by_id(r.run_id) for r in done), key=lambda r: r.start_time)
        assert first.end_time <= second.start_time  # never overlapped
        assert _sensor_runs(instance) == before  # and no sensor run was repeated meanwhile
