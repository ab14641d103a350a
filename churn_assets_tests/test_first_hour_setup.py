"""What a new user hit in the first hour, each caught where it starts (unit level: no engine, no
server, no training; the `make dagster` stop test is test_first_hour_dagster.py).

1. `make container` from a deep checkout: the Bento's folder read from `bentoml get -o path` (wrapped
   at 80 columns), and dockerd's sockets under the checkout (> 108 bytes); a failed engine start was
   reported as "Cannot connect to the Docker daemon at unix:///var/run/docker.sock".
2. CHURN_HOME did not move the Bento store or the Dagster home; `make serve` did not say what it serves.
5. `churn-assets demo` printed Dagster DEBUG lines when not run by make.
6. `make mlflow-ui` fixed port 5000 whatever MLFLOW_UI_URL said; the experiment opened in GenAI mode.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from churn_assets_tests.docker_engine import MAX_SOCKET_BYTES, engine_paths

ROOT = Path(__file__).resolve().parents[1]
SUN_PATH = 108  # bytes of a Unix socket path, with its NUL


def _deep(tmp_path: Path, at_least: int = 115) -> Path:
    """A folder whose path is longer than ``at_least`` characters."""
    deep = tmp_path
    while len(str(deep)) <= at_least:
        deep = deep / "a-rather-long-folder-name-of-a-nested-checkout"
    return deep


def _clean_env(**extra: str) -> dict[str, str]:
    drop = ("CHURN_HOME", "DAGSTER_HOME", "BENTOML_HOME", "CHURN_DOCKER_STATE", "CHURN_DOCKER_RUN", "DOCKER_HOST",
            "CHURN_DOCKER_CLI", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


# -- 1b. the engine's sockets ------------------------------------------------------------------------------


def test_engine_sockets_stay_short_under_a_deep_checkout(tmp_path):
    checkout = _deep(tmp_path, 110)
    (checkout / "scripts").mkdir(parents=True)
    script = checkout / "scripts" / "container_engine.sh"
    shutil.copy2(ROOT / "scripts" / "container_engine.sh", script)
    assert len(str(checkout)) > 110
    # The old layout (exec root under the checkout) put containerd's socket past the limit:
    assert len(str(checkout / ".churn/docker/exec/containerd/containerd-debug.sock")) >= SUN_PATH

    out = subprocess.run([str(script), "paths"], env=_clean_env(), capture_output=True, text=True, timeout=30,
                         check=True).stdout
    paths = dict(line.split("=", 1) for line in out.splitlines())
    for key in ("SOCK", "CONTAINERD_SOCK"):
        assert len(os.fsencode(paths[key])) < MAX_SOCKET_BYTES < SUN_PATH, (key, paths[key])
        assert paths[key].startswith(paths["RUNDIR"] + "/")
    assert paths["EXEC_ROOT"].startswith(paths["RUNDIR"] + "/")
    # The data (images, build cache) and the log stay with the checkout's state.
    assert paths["STATE"] == str(checkout / ".churn" / "docker")
    assert paths["DATA_ROOT"] == str(checkout / ".churn" / "docker" / "data")
    assert paths["LOG"].startswith(paths["STATE"] + "/")

    # The test helper asks the script: the same paths for the same state, another folder for another one.
    same = engine_paths(checkout / ".churn" / "docker", script=script)
    assert {k: str(v) for k, v in same.items()} == paths
    other = engine_paths(tmp_path / "other-state", script=script)
    assert other["RUNDIR"] != Path(paths["RUNDIR"])
    # CHURN_HOME moves the state (and with it the runtime folder's name).
    moved = subprocess.run([str(script), "paths"], env=_clean_env(CHURN_HOME=str(tmp_path / "home")),
                           capture_output=True, text=True, timeout=30, check=True).stdout
    assert f"STATE={tmp_path / 'home' / 'docker'}" in moved.splitlines()


def _fake_bento_store(home: Path, template: bool = True) -> Path:
    """A Bento store with churn_service:latest, as bentoml.get reads it (bento.yaml, `latest`)."""
    bento = home / "bentos" / "churn_service" / "v1abc"
    bento.mkdir(parents=True)
    (bento / "bento.yaml").write_text(
        "service: bento.service:ChurnService\nname: churn_service\nversion: v1abc\nbentoml_version: 1.4.40\n"
        "creation_time: '2026-12-03T19:00:00+00:00'\nlabels:\n  project: churn_assets\n"
        "  model: churn-synthetic:m7\n")
    (home / "bentos" / "churn_service" / "latest").write_text("v1abc")
    if template:
        (bento / "env" / "docker").mkdir(parents=True)
        shutil.copy2(ROOT / "bento" / "Dockerfile.template", bento / "env" / "docker" / "Dockerfile.template")
    return bento


# -- 1a. the Bento's folder and tags through the Python API ----------------------------------------------


def test_bento_info_reads_a_long_store_path_whole(tmp_path):
    home = _deep(tmp_path, 120) / "bentoml"
    bento = _fake_bento_store(home, template=False)
    env = _clean_env(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="true")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "bento_info.py"), "churn_service:latest"], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines() == [str(bento), "churn_service:v1abc", "churn-synthetic:m7", ""]
    missing = subprocess.run([sys.executable, str(ROOT / "scripts" / "bento_info.py"), "nope:latest"], env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 3 and missing.stdout == ""
    # `make serve`'s banner reads the same Bento through the same API.
    code = "import bentoml\nfrom bento.serve import describe\nprint(describe(bentoml.get('churn_service:latest')))"
    shown = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120, check=True).stdout
    assert shown.splitlines() == ["Bento      churn_service:v1abc",
                                  "model      churn-synthetic:m7 (not in the BentoML model store)"], shown


def test_container_build_stops_at_the_engine_with_dockerds_own_words(tmp_path):
    """`make container`'s script from a deep store: it finds the Bento (the path is read whole), then the
    engine fails to start and the script stops there, with dockerd's log, not a later docker error."""
    home = _deep(tmp_path, 120) / "bentoml"
    _fake_bento_store(home)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    (fake / "dockerd").write_text("#!/bin/sh\necho 'failed to start daemon: timeout waiting for containerd to "
                                  "start (fake dockerd)'\nexit 1\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    env = _clean_env(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="true", CHURN_HOME=str(tmp_path / "home"),
                     CHURN_DOCKER_RUN=tempfile.mkdtemp(prefix="ch-", dir="/tmp"), CHURN_DOCKER_CLI=str(fake / "docker"),
                     PATH=f"{fake}:{os.environ['PATH']}")
    proc = subprocess.run([str(ROOT / "scripts" / "container_build.sh"), "--ca-certs", "none", "--results",
                           str(tmp_path / "container.json")], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "no Bento" not in out and "rebuilding" not in out, out  # found as it is
    assert "timeout waiting for containerd to start (fake dockerd)" in out, out
    assert "dockerd exited during start-up" in out, out
    assert "Cannot connect" not in out, out  # stopped at the first failure
    assert not (tmp_path / "container.json").exists()
    assert (tmp_path / "home" / "docker" / "dockerd.log").is_file()  # the engine's state follows CHURN_HOME
    assert not Path(env["CHURN_DOCKER_RUN"]).exists()  # the failed start cleaned up its runtime folder


# -- 2. CHURN_HOME moves every piece of state; `make serve` says what it serves ----------------------------


def _make_env(tmp_path: Path, **env: str) -> dict[str, str]:
    probe = tmp_path / "probe.mk"
    probe.write_text(f"include {ROOT}/Makefile\n.PHONY: fh-probe\nfh-probe:\n"
                     "\t@echo CHURN_HOME=$$CHURN_HOME; echo DAGSTER_HOME=$$DAGSTER_HOME; echo BENTOML_HOME=$$BENTOML_HOME\n")
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "-f", str(probe), "fh-probe"], env=_clean_env(**env),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_churn_home_moves_the_dagster_home_and_the_bento_store(tmp_path):
    assert _make_env(tmp_path, CHURN_HOME="/tmp/x") == {
        "CHURN_HOME": "/tmp/x", "DAGSTER_HOME": "/tmp/x/dagster_home", "BENTOML_HOME": "/tmp/x/bentoml"}
    assert _make_env(tmp_path) == {"CHURN_HOME": f"{ROOT}/.churn", "DAGSTER_HOME": f"{ROOT}/.churn/dagster_home",
                                   "BENTOML_HOME": f"{ROOT}/.churn/bentoml"}
    # Explicit tool variables still win; a relative CHURN_HOME is taken from the checkout.
    assert _make_env(tmp_path, CHURN_HOME="/tmp/x", BENTOML_HOME="/tmp/b", DAGSTER_HOME="/tmp/d") == {
        "CHURN_HOME": "/tmp/x", "DAGSTER_HOME": "/tmp/d", "BENTOML_HOME": "/tmp/b"}
    assert _make_env(tmp_path, CHURN_HOME="rel")["BENTOML_HOME"] == f"{ROOT}/rel/bentoml"


def test_serve_banner_names_the_data_set_and_the_model_versions():
    from bento.serve import banner

    contract = json.dumps({"dataset": "bank_churn", "id_column": "id"})
    text = banner("churn_service:abc", {"model": "churn-bank_churn:m3", "challenger": "churn-bank_churn:m4"},
                  {"churn-bank_churn:m3": {"registry_name": "churn-bank_churn", "registry_version": "3",
                                           "alias": "champion", "contract": contract},
                   "churn-bank_churn:m4": {"registry_name": "churn-bank_churn", "registry_version": "4",
                                           "alias": "challenger", "contract": contract}})
    lines = text.splitlines()
    assert lines[0] == "Bento      churn_service:abc"
    assert lines[1] == ("model      churn-bank_churn v3, champion (BentoML model churn-bank_churn:m3), "
                        "dataset 'bank_churn'")
    assert lines[2].startswith("challenger churn-bank_churn v4, challenger") and "dataset 'bank_churn'" in lines[2]
    gone = banner("churn_service:abc", {"model": "churn-x:m1"}, {"churn-x:m1": None})
    assert "churn-x:m1 (not in the BentoML model store)" in gone


# -- 5. the demo's console: warnings only, however it is launched -------------------------------------------


def test_loading_a_runs_values_prints_no_debug(tmp_path, capfd):
    import dagster as dg

    from churn_assets.local.runs import QUIET, TrainingRun

    @dg.asset
    def tiny() -> int:
        return 7

    io = dg.FilesystemIOManager(base_dir=str(tmp_path / "storage"))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([tiny], instance=instance, resources={"io_manager": io}, run_config=QUIET)
        run = TrainingRun(result, instance)
        run._defs = dg.Definitions(assets=[tiny], resources={"io_manager": io})
        capfd.readouterr()
        assert run.output_for_node("tiny") == 7
        out = capfd.readouterr()
    assert "DEBUG" not in out.out + out.err, out  # was: "Loading file from: ... using PickledObjectFilesystemIOManager"
    import logging

    assert logging.root.manager.disable == logging.NOTSET  # restored afterwards


def test_cli_console_turns_off_mlflow_progress_bars_unless_asked(monkeypatch):
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR as bar

    from churn_assets.local.runs import quiet_console

    monkeypatch.setattr(bar, "default", bar.default)  # restored after the test
    monkeypatch.delenv(bar.name, raising=False)
    quiet_console()
    assert bar.get() is False
    monkeypatch.setenv(bar.name, "true")  # the user's explicit choice wins
    assert bar.get() is True


# -- 6. one setting for the MLflow UI's address; a model-training experiment ---------------------------------


def test_mlflow_ui_listens_where_the_links_point(tmp_path):
    from churn_assets.local.dev import dagster_argv, mlflow_ui_address, mlflow_ui_argv
    from churn_assets.model.settings import Settings

    s = Settings(home=tmp_path, mlflow_ui_url="http://127.0.0.1:5055", mlflow_tracking_uri="")  # not a leaked variable
    argv = mlflow_ui_argv(s)
    assert argv[argv.index("--port") + 1] == "5055" and argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert mlflow_ui_address(Settings(home=tmp_path)) == ("127.0.0.1", 5000)  # the default
    # ... and the links in the Dagster UI are built from the same setting.
    from churn_assets.core.training.tracking import run_url

    assert run_url(s.mlflow_tracking_uri, "1", "r", s.mlflow_ui_url).startswith("http://127.0.0.1:5055/")
    # `make mlflow-ui` / `make dagster` go through the launcher (no fixed port, `dg dev`).
    recipes = subprocess.run(["make", "-n", "-o", ".venv/.synced", "mlflow-ui", "dagster"], cwd=ROOT,
                             env=_clean_env(), capture_output=True, text=True, timeout=60, check=True).stdout
    assert "5000" not in recipes and "churn_assets.local.dev mlflow-ui" in recipes, recipes
    assert "churn_assets.local.dev dagster" in recipes and "dagster dev" not in recipes, recipes
    assert dagster_argv("127.0.0.1", 3123)[1:] == ["dev", "-w", str(ROOT / "workspace.yaml"), "--host", "127.0.0.1",
                                                   "--port", "3123"]
    assert Path(dagster_argv()[0]).name == "dg"


@pytest.mark.parametrize("existing", [False, True])
def test_the_experiment_is_a_model_training_experiment(tmp_path, existing):
    from churn_assets.core.training import tracking

    c = tracking.client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    if existing:  # created before the tag existed: it gets it on next use
        c.create_experiment("older", artifact_location=f"file://{tmp_path / 'art'}")
    exp_id = tracking.ensure_experiment(c, "older" if existing else "churn_assets", str(tmp_path / "art"))
    tags = c.get_experiment(exp_id).tags
    assert tags.get("mlflow.experimentKind") == "custom_model_development", tags
