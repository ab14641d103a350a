"""`make dagster` and `make mlflow-ui`: the local UIs, each exec'd as this very process.

    python -m churn_assets.local.dev dagster [--host 127.0.0.1] [--port 3000]
    python -m churn_assets.local.dev mlflow-ui

Why a launcher and not the tool's command in the Makefile:

* Signals. ``dg dev`` (like ``dagster dev``) maps SIGTERM to whatever SIGINT does when it starts
  (dagster._utils.interrupts.setup_interrupt_handlers). A shell that starts a command in the
  background (``make dagster &`` from a script) starts it with SIGINT *ignored*, and an ignored
  disposition survives exec: SIGTERM was then ignored too, and the UI, the daemon and the code server
  kept running. The launcher gives SIGINT its default back before exec, so Python installs its
  KeyboardInterrupt handler and SIGTERM shuts every service down. Exec (no child) means the PID
  that make/uv signal is the dev server itself.
* ``dg dev`` rather than ``dagster dev``: the latter prints a SupersessionWarning.
* One setting drives the MLflow UI's address and the links in the Dagster UI: MLFLOW_UI_URL
  (``Settings.mlflow_ui_url``); its store is the one the runs write to (MLFLOW_TRACKING_URI, by default
  under CHURN_HOME).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from churn_assets.model.settings import PROJECT_ROOT, Settings

WORKSPACE = PROJECT_ROOT / "workspace.yaml"


def _tool(name: str) -> str:
    """The console script next to this interpreter (the venv's), else the one on PATH."""
    here = Path(sys.executable).with_name(name)
    return str(here) if here.exists() else (shutil.which(name) or name)


def dagster_argv(host: str = "127.0.0.1", port: int = 3000) -> list[str]:
    return [_tool("dg"), "dev", "-w", str(WORKSPACE), "--host", host, "--port", str(port)]


def mlflow_ui_address(settings: Settings) -> tuple[str, int]:
    """(host, port) of MLFLOW_UI_URL: where `make mlflow-ui` listens and where the Dagster links point."""
    url = urlsplit(settings.mlflow_ui_url)
    default = 443 if url.scheme == "https" else 80
    return url.hostname or "127.0.0.1", url.port or default


def mlflow_ui_argv(settings: Settings) -> list[str]:
    host, port = mlflow_ui_address(settings)
    return [_tool("mlflow"), "ui", "--backend-store-uri", settings.mlflow_tracking_uri, "--host", host,
            "--port", str(port)]


def _exec(argv: list[str], env: dict[str, str]) -> None:
    # An ignored SIGINT (background job of a non-interactive shell) would be inherited by the exec'd
    # tool, and dagster makes SIGTERM do what SIGINT does: give both their defaults back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.stdout.flush()
    os.chdir(PROJECT_ROOT)  # workspace.yaml's working_directory is relative to it
    os.execvpe(argv[0], argv, env)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m churn_assets.local.dev", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dagster", help="dg dev on the embedded instance")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=3000)
    sub.add_parser("mlflow-ui", help="the MLflow UI on MLFLOW_UI_URL over MLFLOW_TRACKING_URI")
    args = p.parse_args(argv)
    settings = Settings()
    if args.cmd == "dagster":
        from churn_assets.local.instance import ensure_instance_dir

        home = ensure_instance_dir(settings)
        print(f"Dagster instance: {home}\nDagster UI: http://{args.host}:{args.port}", flush=True)
        # The child gets DAGSTER_HOME in its own environment (the Makefile exports it too).
        _exec(dagster_argv(args.host, args.port), {**os.environ, "DAGSTER_HOME": str(home)})
    uri = settings.mlflow_tracking_uri
    if uri.startswith(("http://", "https://")):
        print(f"MLflow tracking server {uri}: its UI is there (MLFLOW_TRACKING_URI points to a server)")
        return 0
    host, port = mlflow_ui_address(settings)
    print(f"MLflow UI: http://{host}:{port} (MLFLOW_UI_URL) on {uri}", flush=True)
    # No MLflow job runner (six huey consumer processes for GenAI jobs and trace roll-ups): a UI over
    # the local store needs none, and under load they outlived a SIGTERM by more than 30 s (seen in CI).
    _exec(mlflow_ui_argv(settings), {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    return 0  # not reached: exec


if __name__ == "__main__":
    sys.exit(main())
