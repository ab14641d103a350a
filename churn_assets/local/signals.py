"""A process started as a background job stops on SIGTERM.

A non-interactive shell starts a background job (`churn-assets demo &`, `make dagster &`) with SIGINT
ignored. Dagster maps SIGTERM to whatever SIGINT does: `dagster dev` when it starts, and every
in-process run when it ends (dagster._utils.interrupts restores SIGINT's handler and points SIGTERM at
it). With SIGINT ignored, SIGTERM ended up ignored too: `kill $!` left the process running, and every
server it started later inherited the ignored signal (an ignored disposition survives fork and exec).
"""

from __future__ import annotations

import signal


def stop_on_sigterm() -> None:
    """Give SIGINT Python's handler back when it is ignored, so Dagster's mapping keeps SIGTERM live;
    a SIGTERM already ignored gets its default back."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
