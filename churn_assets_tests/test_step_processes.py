"""The multiprocess executor's step processes fork from a fork server that keeps the environment it
started with; runs.multiprocess() restarts it when the environment changed (see its docstring)."""

from __future__ import annotations

import multiprocessing as mp
import os

import pytest

from churn_assets.local.runs import FORKSERVER, multiprocess, stop_forkserver


def _report(queue) -> None:
    queue.put((os.environ.get("FORKSERVER_PROBE"), os.getppid()))


def _forked_child_sees() -> tuple[str | None, int]:
    """(the probe variable, the fork server's pid) as a forked child sees them."""
    ctx = mp.get_context("forkserver")
    queue = ctx.Queue()
    child = ctx.Process(target=_report, args=(queue,))
    child.start()
    try:
        return queue.get(timeout=120)
    finally:
        child.join(30)


def test_step_processes_are_forked_from_a_server():
    assert multiprocess(max_concurrent=2) == {"multiprocess": {"max_concurrent": 2, "start_method": FORKSERVER}}


def test_a_changed_environment_restarts_the_fork_server(monkeypatch):
    monkeypatch.setenv("FORKSERVER_PROBE", "one")
    multiprocess()
    seen, server = _forked_child_sees()
    assert seen == "one"

    multiprocess()  # nothing changed: the same server forks the next step
    assert _forked_child_sees() == ("one", server)

    monkeypatch.setenv("FORKSERVER_PROBE", "two")
    multiprocess()
    seen, restarted = _forked_child_sees()
    assert seen == "two", "a step process would have read the variable as it was when the server started"
    assert restarted != server
    stop_forkserver()


def test_the_fork_server_stops_and_the_next_child_starts_another(monkeypatch):
    """The one private call (ForkServer._stop) still does what runs.stop_forkserver relies on."""
    stop_forkserver()  # whatever an earlier test of this process left running
    monkeypatch.setenv("FORKSERVER_PROBE", "before")
    _, server = _forked_child_sees()
    monkeypatch.setenv("FORKSERVER_PROBE", "after")
    assert _forked_child_sees() == ("before", server)  # the hazard: the server's environment, not ours
    stop_forkserver()
    with pytest.raises(ProcessLookupError):
        os.kill(server, 0)
    seen, again = _forked_child_sees()
    assert (seen, again != server) == ("after", True)
    stop_forkserver()
