"""`churn-assets` command line: train, score, backfill and status (ordinary Dagster runs, submitted
through the instance: churn_assets/local/launch.py), the demo, forget (a churn_forget run in this
process), registry inspection, rollback and the settings table."""

from __future__ import annotations

import argparse
import json
import sys

from churn_assets.local.signals import stop_on_sigterm
from churn_assets.model.settings import Settings, settings_table, warn_unknown


def _registry_client(settings: Settings, name: str):
    from churn_assets.core.training import tracking
    from churn_assets.defs.common.resources import build_resources
    from churn_assets.model.settings import ServingSettings

    mlflow = build_resources(settings, ServingSettings(home=settings.home))["mlflow"]
    return tracking.client(mlflow.tracking_uri), name or mlflow.model_name


def cmd_rollback(args) -> int:
    from churn_assets.core.registry import model_registry as registry

    client, name = _registry_client(Settings(), args.name)
    old, new = registry.rollback(client, name)
    print(f"{name}: champion rolled back from v{old} to v{new}")
    return 0


def cmd_registry(args) -> int:
    from churn_assets.core.registry import model_registry as registry

    client, name = _registry_client(Settings(), args.name)
    print(json.dumps(registry.describe(client, name), indent=1))
    return 0


def _loop_handles(settings: Settings):
    from churn_assets.local.instance import local_instance

    client, name = _registry_client(settings, "")
    return local_instance(settings), client, name


def _wait(args, settings, run_ids=None, backfill_id=None) -> int:
    from churn_assets.local import launch

    if not args.wait:
        return 0
    instance, _, _ = _loop_handles(settings)
    statuses = launch.wait(instance, run_ids, backfill_id, timeout=args.timeout)
    return 0 if all(s == "SUCCESS" for s in statuses.values()) else 1


def cmd_train(args) -> int:
    from churn_assets.local import launch

    settings = Settings()
    instance, client, name = _loop_handles(settings)
    tags = launch.training_tags(instance, client, name, trigger="cli")
    config = {**({"ops": {"tuned_model": {"config": {"n_trials": args.trials}}}} if args.trials else {}),
              **launch.executor_config(args.executor)}
    run_id = launch.launch(settings, "churn_training", tags, config or None)
    print(f"submitted churn_training run {run_id} (window: {tags['churn/window_days']}; champion "
          f"v{tags.get('churn/champion_version', '-')})")
    return _wait(args, settings, run_ids=[run_id])


def cmd_score(args) -> int:
    from churn_assets.local import launch

    settings = Settings()
    run_id = launch.launch(settings, "churn_scoring", {"dagster/partition": args.day, "churn/trigger": "cli"},
                           launch.executor_config(args.executor) or None)
    print(f"submitted churn_scoring run {run_id} for {args.day}")
    return _wait(args, settings, run_ids=[run_id])


def cmd_backfill(args) -> int:
    from churn_assets.local import launch

    settings = Settings()
    if args.executor:  # `dagster job backfill` takes no run config: one `dagster job launch` per day
        group, run_ids = launch.launch_days(settings, args.job, args.first, args.last, {"churn/trigger": "cli"},
                                            launch.executor_config(args.executor))
        print(f"submitted {len(run_ids)} {args.job} run(s) {args.first} .. {args.last} (churn/backfill {group})")
        return _wait(args, settings, run_ids=run_ids)
    backfill_id = launch.backfill(settings, args.job, args.first, args.last, {"churn/trigger": "cli"})
    print(f"submitted backfill {backfill_id} of {args.job}: {args.first} .. {args.last}")
    return _wait(args, settings, backfill_id=backfill_id)


def cmd_status(args) -> int:
    from churn_assets.local import launch

    settings = Settings()
    instance, client, name = _loop_handles(settings)
    state = launch.status(instance, client, name, days=args.days)
    print(json.dumps(state, indent=1) if args.json else launch.format_status(state))
    return 0


def cmd_demo(args) -> int:
    from churn_assets.local.runs import quiet_console
    from churn_assets.sim.demo import run_demo

    quiet_console()  # warnings only on the console, with or without `make` around it

    return run_demo(Settings(), trials=args.trials, rows=args.rows, serve=not args.no_serve, loop=not args.no_loop,
                    executor=args.executor)


def cmd_forget(args) -> int:
    from churn_assets.core.privacy.forget import audit
    from churn_assets.local import runs
    from churn_assets.local.instance import local_instance
    from churn_assets.model.pseudonym import IdHashing

    settings = Settings()
    ring = IdHashing(settings.id_hash_keys.get_secret_value(), settings.home).ring()
    ids = list(args.customer or [])
    if args.file:
        ids += [line.strip() for line in open(args.file, encoding="utf-8") if line.strip()]
    if args.pseudonym_of:
        for cid in args.pseudonym_of:
            print(ring.of(cid))
        return 0
    if not ids:
        print("name customers: --customer ID (repeat it) or --file FILE (one id per line)", file=sys.stderr)
        return 2
    pseudonyms = sorted(set(ring.many(ids)))  # only pseudonyms reach the run's stored configuration
    done = runs.execute("churn_forget", local_instance(settings), settings, raise_on_error=False,
                        run_config={"ops": {"forget_customers": {"config": {"customers": pseudonyms}}}},
                        tags={"churn/trigger": "cli"})
    if not done.success:
        print("churn_forget failed: " + "; ".join(runs.failures(done)), file=sys.stderr)
        return 1
    row = audit(settings.predictions_url).iloc[-1]  # the row this run wrote
    stores, models = json.loads(row["stores"]), json.loads(row["models"])
    print(f"forgot {row['customers']} customer(s): {row['rows_removed']:,} rows removed "
          f"({', '.join(f'{k}: {v:,}' for k, v in stores.items()) or 'no store held them'}); "
          f"models trained on them: {', '.join(models) or 'none'}; run {done.run_id}")
    return 0


def cmd_settings(args) -> int:
    if args.markdown:
        print(settings_table())
    else:
        print(Settings().model_dump_json(indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()  # started as `churn-assets demo &` from a script: `kill $!` still stops it
    warn_unknown()
    p = argparse.ArgumentParser(prog="churn-assets", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="materialize the whole graph on the embedded default and summarize")
    d.add_argument("--trials", type=int, default=50)
    d.add_argument("--rows", type=int, default=None, help="synthetic rows (default: CHURN_SYNTHETIC_ROWS or 100000)")
    d.add_argument("--no-serve", action="store_true", help="skip the served sample prediction")
    d.add_argument("--no-loop", action="store_true", help="skip the drift -> retrain loop")
    d.add_argument("--executor", choices=("in_process", "multiprocess"), default="in_process",
                   help="multiprocess: each step in its own process, one at a time (millions of customers: "
                        "memory peaks at one step's working set; docs/PERFORMANCE.md)")
    d.set_defaults(fn=cmd_demo)
    wait = argparse.ArgumentParser(add_help=False)
    wait.add_argument("--wait", action="store_true", help="poll until the runs end (a daemon must be running)")
    wait.add_argument("--timeout", type=float, default=3600, help="--wait gives up after this many seconds")
    executor = argparse.ArgumentParser(add_help=False)
    executor.add_argument("--executor", choices=("multiprocess", "in_process"), default=None,
                          help="the run's executor (default: the job's, multiprocess: a process per step)")
    t = sub.add_parser("train", parents=[wait, executor], help="submit a churn_training run (its window: the labelled days now)")
    t.add_argument("--trials", type=int, default=None, help="Optuna trials (default: the job's)")
    t.set_defaults(fn=cmd_train)
    sc = sub.add_parser("score", parents=[wait, executor], help="submit a churn_scoring run for one day")
    sc.add_argument("--day", required=True, help="the day (partition), YYYY-MM-DD")
    sc.set_defaults(fn=cmd_score)
    bf = sub.add_parser("backfill", parents=[wait, executor], help="submit one run per day from --from to --to")
    bf.add_argument("--from", dest="first", required=True)
    bf.add_argument("--to", dest="last", required=True)
    bf.add_argument("--job", default="churn_scoring", choices=("churn_scoring", "churn_outcomes"))
    bf.set_defaults(fn=cmd_backfill)
    st = sub.add_parser("status", help="champion, last scored day, drift/degradation flags, runs in flight")
    st.add_argument("--days", type=int, default=7, help="flags of this many last scored days")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_status)
    r = sub.add_parser("rollback", help="give the champion alias back to the previous champion")
    r.add_argument("--name", default="")
    r.set_defaults(fn=cmd_rollback)
    g = sub.add_parser("registry", help="show aliases and champion history")
    g.add_argument("--name", default="")
    g.set_defaults(fn=cmd_registry)
    f = sub.add_parser("forget", help="forget customers everywhere (stores, files, asset values), keep them out of "
                                      "later ingests, and write an audit row (docs/PRIVACY.md)")
    f.add_argument("--customer", action="append", metavar="ID", help="a customer id (repeat for several)")
    f.add_argument("--file", metavar="FILE", help="a file of customer ids, one per line")
    f.add_argument("--pseudonym-of", action="append", metavar="ID",
                   help="print the pseudonym of ID (for the churn_forget job's config in the UI) and stop")
    f.set_defaults(fn=cmd_forget)
    s = sub.add_parser("settings", help="the effective settings (JSON), or every variable as a Markdown table")
    s.add_argument("--markdown", action="store_true")
    s.set_defaults(fn=cmd_settings)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
