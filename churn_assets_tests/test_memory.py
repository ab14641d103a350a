"""Memory at scale: freed heap memory goes back to the OS after each step of the training job."""

import gc

import pytest

from churn_assets.defs.common.memory import RELEASE_MEMORY_HOOKS, release_memory


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


def test_training_and_scoring_jobs_release_memory_after_every_step():
    from churn_assets.definitions import defs

    d = defs()
    for name in ("churn_training", "churn_scoring"):
        assert RELEASE_MEMORY_HOOKS <= set(d.resolve_job_def(name).hook_defs), name
