"""The embedded Dagster instance: SQLite under CHURN_HOME/dagster_home, with the project's dagster.yaml."""

from __future__ import annotations

from pathlib import Path

from churn_assets.model.settings import PROJECT_ROOT, Settings

TEMPLATE = PROJECT_ROOT / "deploy" / "dagster" / "dagster.local.yaml"
_MARK = "# churn_assets embedded instance"


def ensure_instance_dir(settings: Settings) -> Path:
    """Create DAGSTER_HOME with our dagster.yaml (run queue limits, no telemetry) unless the user
    keeps a dagster.yaml of their own there."""
    home = Path(settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    ours = not target.exists() or target.read_text().startswith(_MARK) or "telemetry" in target.read_text()[:200]
    if ours and TEMPLATE.is_file() and (not target.exists() or target.read_text() != TEMPLATE.read_text()):
        target.write_text(TEMPLATE.read_text())
    return home


def local_instance(settings: Settings | None = None):
    import dagster as dg

    settings = settings or Settings()
    return dg.DagsterInstance.from_config(str(ensure_instance_dir(settings)))


if __name__ == "__main__":  # the instance folder alone (`make dagster` makes it in churn_assets/local/dev.py)
    print(f"Dagster instance: {ensure_instance_dir(Settings())}")
