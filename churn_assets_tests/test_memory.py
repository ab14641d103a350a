"""Memory at scale: freed heap memory goes back to the OS between steps, no step's output outlives the
run, and the training job runs with each step in its own process."""

import gc

import pytest

from churn_assets.core.training.memory import release_memory

pytestmark = pytest.mark.slow


def _rss() -> int:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_release_memory_returns_freed_heap_to_the_os():
    if not release_memory():
        pytest.skip("not glibc: malloc_trim is unavailable and release_memory only collects garbage")
    blobs = [bytes(4000) for _ in range(100_000)]  # 400 MB from malloc's heap (objects > 512 B skip pymalloc)
    keep = bytes(4000)  # allocated after them: the freed space is not at the top of the heap
    del blobs
    gc.collect()
    freed_but_kept = _rss()
    assert release_memory()
    assert freed_but_kept - _rss() > 200e6, "malloc_trim returned nothing: the step hooks would not help"
    assert len(keep) == 4000


def test_no_step_output_outlives_an_in_process_training_run(isolated, instance):
    """runs.train must not keep step outputs alive (execute_in_process's output capture did; so does
    any Dagster hook): after the run no DataFrame of the run's size is left in this process."""
    import pandas as pd

    from churn_assets.local import runs

    def frames() -> dict[int, pd.DataFrame]:
        gc.collect()
        # type(), not isinstance(): gc also lists weakref proxies, and isinstance on a proxy whose
        # referent has died raises ReferenceError (it did in CI, after the serving tests ran first)
        return {id(o): o for o in gc.get_objects() if issubclass(type(o), pd.DataFrame)}

    before = set(frames())  # other tests' fixtures hold frames of their own
    rows = 2_345
    result = runs.train(2, instance, rows=rows, settings=isolated)
    assert result.success
    del result
    alive = [o for i, o in frames().items() if i not in before and len(o) >= 0.15 * rows]  # test split and up
    assert not alive, [(len(o), list(o.columns)[:3]) for o in alive]


def test_an_unknown_executor_is_refused_before_any_run(isolated, instance):
    """`--executor` names one of the executors (the multiprocess executor's whole graph runs in
    test_production_postgres, test_distributed_tuning and the fault tier)."""
    from churn_assets.local import runs

    with pytest.raises(ValueError, match="executor must be one of"):
        runs.train(2, instance, executor="threads", settings=isolated)
    assert instance.get_runs() == []
