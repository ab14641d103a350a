"""`churn-assets` command line: demo, registry inspection and one-command rollback."""

from __future__ import annotations

import argparse
import json
import os
import sys

from churn_assets.core.settings import apply_defaults


def _registry_client():
    from churn_assets.core import tracking

    return tracking.client(os.environ["MLFLOW_TRACKING_URI"]), os.environ["CHURN_MODEL_NAME"]


def cmd_rollback(args) -> int:
    from churn_assets.core import registry

    client, name = _registry_client()
    name = args.name or name
    old, new = registry.rollback(client, name)
    print(f"{name}: champion rolled back from v{old} to v{new}")
    return 0


def cmd_registry(args) -> int:
    from churn_assets.core import registry

    client, name = _registry_client()
    print(json.dumps(registry.describe(client, args.name or name), indent=1))
    return 0


def cmd_demo(args) -> int:
    from churn_assets.demo import run_demo

    return run_demo(trials=args.trials, rows=args.rows, serve=not args.no_serve, loop=not args.no_loop)


def main(argv: list[str] | None = None) -> int:
    apply_defaults()
    p = argparse.ArgumentParser(prog="churn-assets", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="materialize the whole graph on the embedded default and summarize")
    d.add_argument("--trials", type=int, default=50)
    d.add_argument("--rows", type=int, default=None, help="synthetic rows (default: CHURN_SYNTHETIC_ROWS or 100000)")
    d.add_argument("--no-serve", action="store_true", help="skip the served sample prediction")
    d.add_argument("--no-loop", action="store_true", help="skip the drift -> retrain loop")
    d.set_defaults(fn=cmd_demo)
    r = sub.add_parser("rollback", help="give the champion alias back to the previous champion")
    r.add_argument("--name", default="")
    r.set_defaults(fn=cmd_rollback)
    g = sub.add_parser("registry", help="show aliases and champion history")
    g.add_argument("--name", default="")
    g.set_defaults(fn=cmd_registry)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
