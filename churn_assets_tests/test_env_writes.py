"""Tests configure in-process code through settings objects (``settings(...)``, the ``isolated``
fixture, passed to ``build_defs``, ``run_training``, ``runs.train``, ``reconstructable.job``), not by
writing the process environment. A variable is written only for a process the test starts (a CLI, the
daemon, a server, a container) or where the environment itself is the subject."""

from __future__ import annotations

import ast
from pathlib import Path

from churn_assets.model.settings import known_variables

HERE = Path(__file__).resolve().parent

# Modules that may write CHURN_/MLFLOW_ settings into the environment, and why.
ALLOWED = {
    "conftest.py": "the session's temp CHURN_HOME for every process a test starts; scoped_env (the "
                   "environment of a subprocess a test starts)",
    "test_settings_docs.py": "the subject: the variable table and the names the environment may use",
    "test_first_hour_setup.py": "the subject: a newcomer's environment (make, .env) before anything runs",
    "test_daemon.py": "scoped_env: the environment of the dagster-daemon and `dagster job launch` it starts",
    "test_ui_browser.py": "scoped_env: the environment of the dagster-webserver it starts (and of the runs "
                          "this process makes for it, on the same stores)",
    "test_reconstructable.py": "the subject: a job built under one environment is not handed back under another",
}


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or a bare ``environ``."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or \
        (isinstance(node, ast.Name) and node.id == "environ")


def _names(node: ast.AST) -> list[str | None]:
    """The variable names an argument writes: a literal, each key of a dict literal, else None (unknown)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Dict):
        return [k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None for k in node.keys]
    return [None]


def env_writes(source: str) -> list[tuple[int, str | None]]:
    """(line, variable) of each write to the process environment: ``monkeypatch.setenv/delenv``,
    ``os.environ[...] = / del``, ``os.environ.update/setdefault/pop/__setitem__``, conftest's
    ``scoped_env(values)``; variable None when the name is not a literal (then it may be anything)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "scoped_env" \
                and node.args:
            out += [(node.lineno, n) for n in _names(node.args[0])]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            f = node.func
            patched = f.attr in ("setenv", "delenv") and not _is_environ(f.value)
            written = _is_environ(f.value) and f.attr in ("update", "setdefault", "pop", "__setitem__", "__delitem__")
            if patched or written:
                out += [(node.lineno, n) for n in _names(node.args[0])]
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else \
            [node.target] if isinstance(node, ast.AugAssign) else []
        for t in targets:
            if isinstance(t, ast.Subscript) and _is_environ(t.value):
                out += [(node.lineno, n) for n in _names(t.slice)]
    return sorted(out, key=lambda w: w[0])


def _settings_names(writes: list[tuple[int, str | None]]) -> list[tuple[int, str | None]]:
    """The writes that may set a setting: a CHURN_ name, an MLFLOW_ name that is a setting (not one of
    MLflow's own client knobs), or a name the scan cannot see."""
    known = known_variables()
    return [(line, name) for line, name in writes
            if name is None or name.startswith("CHURN_") or (name.startswith("MLFLOW_") and name in known)]


def test_tests_pass_settings_objects_instead_of_writing_the_environment():
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.name not in ALLOWED and (hits := _settings_names(env_writes(path.read_text()))):
            found[path.name] = hits
    assert not found, ("these tests steer settings through os.environ; pass a settings object instead "
                       f"(conftest.settings / the isolated fixture), or add the module to ALLOWED with why: {found}")
    idle = [name for name in ALLOWED if not (HERE / name).is_file() or
            not _settings_names(env_writes((HERE / name).read_text()))]
    assert not idle, f"allowed modules that write no setting any more: drop them from ALLOWED: {idle}"


def test_the_scan_sees_each_kind_of_write():
    src = '''
import os
from os import environ

def test_a(monkeypatch, name):
    monkeypatch.setenv("CHURN_SYNTHETIC_ROWS", "3000")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///x.db")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("CHURN_DATASET", raising=False)
    os.environ["CHURN_MODEL_NAME"] = "m"
    environ["CHURN_HOME"] += "/x"
    os.environ.update({"CHURN_SEED": "1", "PATH": "/bin"})
    os.environ.setdefault(name, "v")
    del os.environ["CHURN_SHIFT"]
    env = {**os.environ, "CHURN_HOME": "/tmp"}  # a subprocess's env: not a write
    with scoped_env({"CHURN_BATCH_ROWS": "10"}):
        return os.environ.get("CHURN_HOME"), env
'''
    assert env_writes(src) == [(6, "CHURN_SYNTHETIC_ROWS"), (7, "MLFLOW_TRACKING_URI"),
                               (8, "MLFLOW_HTTP_REQUEST_MAX_RETRIES"), (9, "CHURN_DATASET"),
                               (10, "CHURN_MODEL_NAME"), (11, "CHURN_HOME"), (12, "CHURN_SEED"), (12, "PATH"),
                               (13, None), (14, "CHURN_SHIFT"), (16, "CHURN_BATCH_ROWS")]
    assert [n for _, n in _settings_names(env_writes(src))] == [
        "CHURN_SYNTHETIC_ROWS", "MLFLOW_TRACKING_URI", "CHURN_DATASET", "CHURN_MODEL_NAME", "CHURN_HOME",
        "CHURN_SEED", None, "CHURN_SHIFT", "CHURN_BATCH_ROWS"]  # MLflow's own client knob is not a setting
