"""`make bench` scale rows: the training graph at 1M and 10M synthetic customers.

Each size runs in its own child process (a fresh CHURN_HOME, every setting at its default), so
peak RSS is that run's alone: a sampler thread reads the process's resident set every 0.1 s and
attributes it to the step that was running (steps run in-process, one at a time), and the kernel's
own high-water mark (``ru_maxrss``) is the figure checked against the target.

    python -m bench.scale --rows 1000000            # one size, prints JSON
    python -m bench.training --only scale            # the 1M and 10M rows of `make bench`
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time

# Targets of issue 14: the 10M graph on this 2-core, 24 GB machine, and no regression at 1M.
TARGETS = {1_000_000: (200.0, 3.5), 10_000_000: (25 * 60.0, 16.0)}  # rows -> (seconds, peak GB)


def _rss_bytes() -> int:
    """Resident memory of this process and every process it started (the multiprocess executor's steps)."""
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Sampler(threading.Thread):
    def __init__(self, every: float = 0.1):
        super().__init__(daemon=True)
        self.every, self.samples, self._done = every, [], threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.samples.append((time.time(), _rss_bytes()))
            self._done.wait(self.every)

    def stop(self) -> list[tuple[float, int]]:
        self._done.set()
        self.join()
        return self.samples


def child(rows: int, trials: int, executor: str) -> dict:
    """One graph run in this process (called in a fresh child by ``run``)."""
    import dagster as dg

    from bench.common import isolated_home
    from churn_assets.local import runs

    isolated_home()
    sampler = Sampler()
    sampler.start()
    with dg.instance_for_test() as instance:
        t0 = time.perf_counter()
        res = runs.train(trials, instance, rows=rows, executor=executor)
        seconds = time.perf_counter() - t0
        spans = {}
        for rec in instance.all_logs(res.run_id):
            ev = rec.dagster_event
            if ev and ev.step_key and ev.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                spans.setdefault(ev.step_key, [None, None])[ev.event_type_value != "STEP_START"] = rec.timestamp
        metrics = res.output_for_node("model_evaluation")["metrics"] if res.success else {}
    samples = sampler.stop()
    steps = {}
    for key, (start, end) in sorted(spans.items(), key=lambda kv: kv[1][0] or 0):
        inside = [r for t, r in samples if start <= t <= (end or start)]
        steps[key] = {"seconds": round((end or start) - start, 1), "peak_rss_gb": round(max(inside, default=0) / 1e9, 2),
                      "start_rss_gb": round(inside[0] / 1e9, 2) if inside else 0.0}
    return {"rows": rows, "trials": trials, "executor": executor, "success": res.success, "seconds": round(seconds, 1),
            # sampled sum over the process tree; the kernel's per-process high-water marks as a floor
            "peak_rss_gb": round(max(max((r for _, r in samples), default=0), _kernel_peak()) / 1e9, 2),
            "test_roc_auc": metrics.get("roc_auc"), "steps": steps}


def _kernel_peak() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)


def executor_for(rows: int) -> str:
    """In-process up to 2M customers (the demo's way, no step start-up cost); each step in its own
    process beyond (what a deployment does, and the peak is then one step's working set)."""
    return "in_process" if rows <= 2_000_000 else "multiprocess"


def run(rows: int, trials: int = 50) -> dict:
    """The graph at ``rows`` in a child process; its JSON result."""
    proc = subprocess.run([sys.executable, "-m", "bench.scale", "--rows", str(rows), "--trials", str(trials),
                           "--executor", executor_for(rows)],
                          capture_output=True, text=True, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"scale run at {rows:,} rows failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def rows_for(result: dict) -> list[dict]:
    """Table rows: the whole graph against its target, then the slowest steps."""
    n, (limit_s, limit_gb) = result["rows"], TARGETS.get(result["rows"], (None, None))
    ok = result["success"] and (limit_s is None or (result["seconds"] < limit_s and result["peak_rss_gb"] < limit_gb))
    out = [{"benchmark": f"scale: graph, {n:,} customers, {result['trials']} trials, {result['executor']}",
            "result": f"{result['seconds']:.0f} s, peak RSS {result['peak_rss_gb']:.1f} GB, "
                      f"test AUC {result['test_roc_auc'] or float('nan'):.4f}",
            "baseline": f"target < {limit_s:.0f} s, < {limit_gb} GB" if limit_s else "-",
            "ratio": f"{limit_s / result['seconds']:.2f}x under time" if limit_s else "-", "ok": ok}]
    top = sorted(result["steps"].items(), key=lambda kv: -kv[1]["seconds"])[:5]
    out.append({"benchmark": f"scale: slowest steps at {n:,} (s / peak GB)",
                "result": ", ".join(f"{k.removeprefix('tuned_model.')} {v['seconds']:.0f}/{v['peak_rss_gb']:.1f}"
                                    for k, v in top),
                "baseline": "-", "ratio": "-", "ok": None})
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--executor", choices=("in_process", "multiprocess"), default=None,
                   help="default: in_process up to 2M customers, multiprocess beyond")
    a = p.parse_args()
    print(json.dumps(child(a.rows, a.trials, a.executor or executor_for(a.rows))))
