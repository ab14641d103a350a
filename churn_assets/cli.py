"""`churn-assets` command line: demo, registry inspection, rollback and the settings table."""

from __future__ import annotations

import argparse
import json
import sys

from churn_assets.model.settings import Settings, settings_table, warn_unknown


def _registry_client(name: str):
    from churn_assets.core.training import tracking
    from churn_assets.defs.common.resources import build_resources
    from churn_assets.model.settings import ServingSettings

    mlflow = build_resources(Settings(), ServingSettings())["mlflow"]
    return tracking.client(mlflow.tracking_uri), name or mlflow.model_name


def cmd_rollback(args) -> int:
    from churn_assets.core.registry import model_registry as registry

    client, name = _registry_client(args.name)
    old, new = registry.rollback(client, name)
    print(f"{name}: champion rolled back from v{old} to v{new}")
    return 0


def cmd_registry(args) -> int:
    from churn_assets.core.registry import model_registry as registry

    client, name = _registry_client(args.name)
    print(json.dumps(registry.describe(client, name), indent=1))
    return 0


def cmd_demo(args) -> int:
    from churn_assets.local.runs import quiet_console
    from churn_assets.sim.demo import run_demo

    quiet_console()  # warnings only on the console, with or without `make` around it

    return run_demo(Settings(), trials=args.trials, rows=args.rows, serve=not args.no_serve, loop=not args.no_loop,
                    executor=args.executor)


def cmd_settings(args) -> int:
    if args.markdown:
        print(settings_table())
    else:
        print(Settings().model_dump_json(indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
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
    r = sub.add_parser("rollback", help="give the champion alias back to the previous champion")
    r.add_argument("--name", default="")
    r.set_defaults(fn=cmd_rollback)
    g = sub.add_parser("registry", help="show aliases and champion history")
    g.add_argument("--name", default="")
    g.set_defaults(fn=cmd_registry)
    s = sub.add_parser("settings", help="the effective settings (JSON), or every variable as a Markdown table")
    s.add_argument("--markdown", action="store_true")
    s.set_defaults(fn=cmd_settings)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
