"""Ordinary Dagster runs from the command line: `churn-assets train | score | backfill | status`.

Each command is a thin call into Dagster's own CLI (`dagster job launch`, `dagster job backfill`) on
the project's workspace.yaml, so the runs are created from the code location (they carry its origin
and appear in the UI's Runs and Jobs pages like any run launched there) and are **submitted** to the
instance's run coordinator: the queue (one training run at a time) and the daemon run them, as they
run the sensors' runs. Nothing executes in this process. `--wait` polls the instance until the
submitted runs end (a daemon must be running: `make dagster` starts one with the UI).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from churn_assets.model.settings import PROJECT_ROOT, Settings

WORKSPACE = PROJECT_ROOT / "workspace.yaml"
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def dagster_bin() -> str:
    local = Path(sys.executable).parent / "dagster"
    return str(local) if local.exists() else "dagster"


def _env(settings: Settings) -> dict[str, str]:
    """The child's environment: this one, with DAGSTER_HOME (and a relative spec path) made explicit."""
    env = {**os.environ, "DAGSTER_HOME": str(settings.dagster_home)}
    if settings.dataset and not Path(settings.dataset).is_absolute():
        env["CHURN_DATASET"] = str(Path(settings.dataset).resolve())
    return env


def _dagster(settings: Settings, args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    from churn_assets.local.instance import ensure_instance_dir

    ensure_instance_dir(settings)
    out = subprocess.run([dagster_bin(), *args, "-w", str(WORKSPACE)], cwd=PROJECT_ROOT, env=_env(settings),
                         capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"`dagster {' '.join(args[:2])}` failed ({out.returncode}): "
                           f"{(out.stderr or out.stdout)[-2500:]}")
    return out


def executor_config(executor: str | None) -> dict:
    """Run config choosing the executor (None: the job's default, multiprocess)."""
    if executor is None:
        return {}
    from churn_assets.local.runs import multiprocess

    mode = {"in_process": {}} if executor == "in_process" else multiprocess()
    return {"execution": {"config": mode}}


def launch(settings: Settings, job: str, tags: dict[str, str] | None = None, config: dict | None = None) -> str:
    """Submit one run of ``job`` through the instance (`dagster job launch`); returns its run id."""
    run_id = str(uuid.uuid4())
    args = ["job", "launch", "-j", job, "--run-id", run_id, "--tags", json.dumps(tags or {})]
    if config:
        args += ["--config-json", json.dumps(config)]
    _dagster(settings, args)
    return run_id


def backfill(settings: Settings, job: str, first: str, last: str, tags: dict[str, str] | None = None) -> str:
    """Submit one run per partition of ``job`` from ``first`` to ``last`` (`dagster job backfill`: a
    backfill in the UI's Backfills page); returns its backfill id."""
    out = _dagster(settings, ["job", "backfill", "-j", job, "--from", first, "--to", last, "--noprompt",
                              "--tags", json.dumps(tags or {})])
    marker = "Launched backfill job `"
    return out.stdout.split(marker, 1)[1].split("`", 1)[0] if marker in out.stdout else ""


def launch_days(settings: Settings, job: str, first: str, last: str, tags: dict[str, str] | None = None,
                config: dict | None = None) -> tuple[str, list[str]]:
    """One run per day from ``first`` to ``last`` through `dagster job launch`, with run ``config``
    (`dagster job backfill` takes none: this is how a backfill gets another executor). The runs share
    the tag ``churn/backfill``; returns it and the run ids."""
    group = uuid.uuid4().hex[:8]
    day, end, run_ids = dt.date.fromisoformat(first), dt.date.fromisoformat(last), []
    while day <= end:
        run_ids.append(launch(settings, job, {**(tags or {}), "dagster/partition": day.isoformat(),
                                              "churn/backfill": group}, config))
        day += dt.timedelta(days=1)
    return group, run_ids


def training_tags(instance, client, model_name: str, trigger: str = "cli") -> dict[str, str]:
    """What a retrain is asked for, recorded when it is asked: the labelled days (its window) and the
    champion it will be judged against."""
    from churn_assets.core.data.window import WINDOW_TAG, window_tag
    from churn_assets.core.registry.model_registry import champion_version
    from churn_assets.defs.common.mlflow import CHAMPION_TAG
    from churn_assets.defs.monitoring.triggers import labelled_days

    champion = champion_version(client, model_name)
    return {"churn/trigger": trigger, WINDOW_TAG: window_tag(labelled_days(instance)),
            **({CHAMPION_TAG: champion} if champion else {})}


def wait(instance, run_ids: list[str] | None = None, backfill_id: str | None = None, timeout: float = 3600,
         echo=print) -> dict[str, str]:
    """Poll until the runs (or every run of the backfill) end; returns run id -> status."""
    deadline, last = time.time() + timeout, None
    while True:
        import dagster as dg

        if backfill_id:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        else:
            runs = [r for r in (instance.get_run_by_id(i) for i in run_ids or []) if r]
        statuses = {r.run_id: r.status.value for r in runs}
        if statuses != last:
            echo("  " + ", ".join(f"{i[:8]} {s}" for i, s in sorted(statuses.items())))
            last = statuses
        if statuses and all(s in FINISHED for s in statuses.values()):
            return statuses
        if time.time() > deadline:
            raise TimeoutError(f"runs still in flight after {timeout:.0f} s: {statuses} (is a daemon running? "
                               "`make dagster` starts one)")
        time.sleep(2)


def status(instance, client, model_name: str, days: int = 7) -> dict:
    """Champion, last scored day, the flags of the last ``days`` scored days, runs in flight."""
    import dagster as dg
    from mlflow.exceptions import MlflowException

    from churn_assets.core.registry import model_registry as registry
    from churn_assets.defs.jobs import IN_FLIGHT

    try:
        reg = registry.describe(client, model_name)
    except MlflowException as err:  # no registered model yet
        reg = {"name": model_name, "aliases": {}, "history": [], "error": str(err).splitlines()[0]}
    aliases = {k: str(v) for k, v in reg["aliases"].items()}  # MLflow gives version numbers as ints here
    champion = aliases.get("champion")
    scored = sorted(instance.get_materialized_partitions(dg.AssetKey("churn_predictions")))
    flags: dict[str, dict] = {}
    for key, flag in (("drift_report", "drift_detected"), ("model_performance", "degraded")):
        for day in scored[-days:]:
            recs = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[day]), limit=1).records
            if recs:
                meta = recs[0].asset_materialization.metadata
                flags.setdefault(day, {})[flag] = bool(meta[flag].value) if flag in meta else None
    in_flight = [{"run_id": r.run_id, "job": r.job_name, "status": r.status.value,
                  "partition": r.tags.get("dagster/partition", ""), "trigger": r.tags.get("churn/trigger", "")}
                 for r in instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT), limit=50)]
    return {"model": model_name, "champion": champion, "challenger": aliases.get("challenger"),
            "champion_history": reg["history"], "last_scored_day": scored[-1] if scored else None,
            "flags": flags, "runs_in_flight": in_flight,
            "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def format_status(s: dict) -> str:
    lines = [(f"model        {s['model']}: champion v{s['champion'] or '-'}, challenger v{s['challenger'] or '-'} "
              f"(history {s['champion_history']})"),
             f"last scored  {s['last_scored_day'] or 'none'}"]
    for day, f in sorted(s["flags"].items()):
        words = [("DRIFT" if f.get("drift_detected") else "no drift") if "drift_detected" in f else "drift ?",
                 ("DEGRADED" if f.get("degraded") else "not degraded") if "degraded" in f else "no outcomes yet"]
        lines.append(f"  {day}  {', '.join(words)}")
    lines.append(f"in flight    {len(s['runs_in_flight'])} run(s)")
    lines += [f"  {r['run_id'][:8]} {r['job']} {r['status']} {r['partition']} {r['trigger']}".rstrip()
              for r in s["runs_in_flight"]]
    return "\n".join(lines)
