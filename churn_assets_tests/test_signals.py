"""A background job (SIGINT ignored, as a script's `cmd &` starts it) that ran a Dagster run in
process still stops on SIGTERM: churn_assets/local/signals.py. Without it, Dagster's restore after
the run leaves SIGTERM ignored (the first case proves the test can fail)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration  # two Python processes that import Dagster

SCRIPT = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a non-interactive shell starts `cmd &`
if sys.argv[1] == "cli":
    from churn_assets import cli
    cli.main(["settings"])  # any command: main() sets the signals up first
import dagster as dg

@dg.asset
def one():
    return 1

assert dg.materialize([one]).success
print("SIGTERM", "ignored" if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN else "live")
"""


@pytest.mark.parametrize(("how", "expected"), [("bare", "ignored"), ("cli", "live")])
def test_sigterm_stays_live_after_an_in_process_run(how, expected, tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, how], capture_output=True, text=True, timeout=300, check=False,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == f"SIGTERM {expected}", out.stdout[-2000:]
