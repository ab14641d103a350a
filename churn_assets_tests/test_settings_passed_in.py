"""Settings are read once, then passed in (resources, arguments): one place per process kind builds
them, and no module reads them when it is imported."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Where a settings object may be built: each process kind's entry point.
ALLOWED = {
    "churn_assets/definitions.py",  # the Dagster code location (dagster dev, the daemon, step processes)
    "churn_assets/cli.py",  # churn-assets ...
    "churn_assets/local/instance.py",  # python -m churn_assets.local.instance (make dagster)
    "churn_assets/local/dev.py",  # make dagster's launcher
    "bento/service.py",  # the Bento's start-up
    "bento/serve.py",  # make serve
    # A job rebuilt in a step or run process: its settings from the run's payload, its secrets from
    # that process's own environment (they are never stored with the run).
    "churn_assets/local/reconstructable.py",
}


def _constructions(path: Path) -> list[int]:
    """Lines that call Settings(...) or ServingSettings(...)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("Settings", "ServingSettings"):
                out.append(node.lineno)
    return out


def test_settings_are_built_only_at_entry_points():
    found = {}
    for path in [*ROOT.glob("churn_assets/**/*.py"), *ROOT.glob("bento/*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        if rel != "churn_assets/model/settings.py" and (lines := _constructions(path)):
            found[rel] = lines
    assert set(found) - ALLOWED == set(), f"settings built outside the entry points: {found}"
    assert found.get("churn_assets/definitions.py"), "the code location builds them"  # the check has teeth


def test_the_scan_sees_a_construction(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("from x import Settings\n\ndef f():\n    return Settings(home='/tmp').home\n")
    assert _constructions(p) == [4]


def test_no_module_reads_settings_when_imported():
    """Every module of the package (and the Bento's, but its service) imports with settings that cannot
    be built: any module that read them at import would fail."""
    code = """
import importlib, pkgutil, sys
import pydantic_settings
def refuse(self, *a, **k):
    raise RuntimeError("settings read at import")
pydantic_settings.BaseSettings.__init__ = refuse
import churn_assets
failed = []
for m in pkgutil.walk_packages(churn_assets.__path__, "churn_assets."):
    try:
        importlib.import_module(m.name)
    except Exception as e:
        failed.append(f"{m.name}: {type(e).__name__}: {e}")
for name in ("bento.arms", "bento.schemas", "bento.edge", "bento.keys", "bento.grpc_server", "bento.client"):
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append(f"{name}: {type(e).__name__}: {e}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    # ... and a module that did would be caught
    bad = subprocess.run([sys.executable, "-c", code.replace("import churn_assets\n",
                          "import churn_assets\nfrom churn_assets.model.settings import Settings\nSettings()\n")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert bad.returncode != 0 and "settings read at import" in bad.stderr


def test_the_loop_sensors_tick_at_the_configured_interval(tmp_path):
    """CHURN_SENSOR_INTERVAL_S reaches every sensor of the loop (the code location builds them)."""
    from churn_assets.definitions import build_defs
    from churn_assets_tests.conftest import isolated_settings, settings

    def intervals(s) -> dict[str, int]:
        return {d.name: d.minimum_interval_seconds for d in build_defs(s).sensors}

    names = ("outcomes_sensor", "retrain_sensor", "campaign_outcomes_sensor")
    fast = intervals(settings(isolated_settings(tmp_path), sensor_interval_s=7))
    assert [fast[n] for n in names] == [7, 7, 7]
    assert intervals(isolated_settings(tmp_path))["retrain_sensor"] == 60
