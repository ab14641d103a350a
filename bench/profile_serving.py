"""Where a served single-record `/predict` spends its time (issue 29, point 1).

Serves the Bento as `make bench-serve` does (plain: no keys, no prediction log), drives `/predict`
with wrk at c=32 and samples every Bento worker process with py-spy (wall-clock stacks of the
worker's threads, 100 Hz) for the middle of the run. The stacks are folded into buckets of the
request path (parsing and validation, the batcher hand-off, the model, response encoding,
middleware/ASGI/event loop, idle) and printed as shares of the samples, with the top frames.

    python -m bench.profile_serving [--seconds 20]     -> a table and bench/results/profile_serving-*.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import table, write
from bench.load_tools import wrk
from churn_assets.local.services import free_port, stop, wait_http

# py-spy is installed into the virtualenv (a dev dependency), which need not be on PATH.
PY_SPY = str(Path(sys.executable).with_name("py-spy"))
# Buckets, first match wins (a stack is matched from its innermost frame outwards).
BUCKETS = [
    ("model: compiled trees / sklearn", ("compiled_trees", "tree_arrays", "sklearn/", "numba")),
    ("features: the Pipeline's transformers", ("churn_assets/model/features.py",)),
    ("scorer: records to arrays", ("churn_assets/model/scorer.py",)),
    ("validation: pydantic request model", ("pydantic",)),
    ("JSON decode / encode", ("json/", "orjson", "encoder.py", "decoder.py")),
    ("BentoML IO descriptors and batching", ("_bentoml_sdk", "_bentoml_impl", "bentoml/")),
    ("ASGI: starlette / uvicorn / h11 / anyio", ("starlette", "uvicorn", "h11", "httptools", "anyio")),
    ("asyncio event loop", ("asyncio/", "uvloop")),
    ("the prediction log (writer thread and appends)", ("prediction_log.py", "sqlalchemy", "sqlite3")),
    ("the service's own code (bento/)", ("bento/",)),
]


def bucket(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in BUCKETS:
            if any(n in frame for n in needles):
                return name
    return "other"


def workers(root_pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    children = collections.defaultdict(list)
    args = {}
    for line in out:
        pid, ppid, cmd = line.split(None, 2)
        children[int(ppid)].append(int(pid))
        args[int(pid)] = cmd
    found, todo = [], [root_pid]
    while todo:
        p = todo.pop()
        for c in children[p]:
            todo.append(c)
            if "worker" in args[c] or "_bentoml_impl" in args[c]:
                found.append(c)
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bento", default="churn_service:latest")
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--prediction-log", action="store_true", help="with the prediction log on (SQLite in a temp folder)")
    args = p.parse_args(argv)
    import bentoml

    bento = bentoml.get(args.bento)
    model = bentoml.models.get(bento.info.labels.get("model") or bento.info.all_models[0].tag)
    body = json.dumps({"customer": json.loads(model.info.metadata["example"])})
    tmp = Path(tempfile.mkdtemp(prefix="profile-serve-"))
    env = {**{k: v for k, v in os.environ.items() if k not in ("CHURN_API_KEYS", "CHURN_API_KEY_FILE")},
           "OMP_NUM_THREADS": "1", "BENTOML_DO_NOT_TRACK": "true", "CHURN_PREDICTION_LOG": "false"}
    if args.prediction_log:
        env |= {"CHURN_PREDICTION_LOG": "true", "CHURN_PREDICTION_LOG_URL": f"sqlite:///{tmp}/prediction_log.db"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", str(bento.tag), "--host", "127.0.0.1", "--port",
                             str(port)], env={**env, "CHURN_GRPC_PORT": str(free_port())},
                            stdout=open(tmp / "bento.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", 120, proc)
        pids = workers(proc.pid)
        load: dict = {}
        t = threading.Thread(target=lambda: load.update(wrk(f"http://127.0.0.1:{port}/predict", body, 32,
                                                             args.seconds, tmp)))
        t.start()
        time.sleep(2 + args.seconds / 4)  # wrk's warm-up, then into the measured run
        spies = [subprocess.Popen([PY_SPY, "record", "--pid", str(pid), "--duration", str(args.seconds // 2),
                                   "--rate", "100", "--format", "raw", "--output", str(tmp / f"{pid}.txt"),
                                   "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
                 for pid in pids]
        for s in spies:
            s.wait(timeout=120)
        t.join()
    finally:
        stop(proc)
    counts: collections.Counter = collections.Counter()
    frames: collections.Counter = collections.Counter()
    total = 0
    for f in tmp.glob("*.txt"):
        for line in f.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack:
                continue
            parts = stack.split(";")
            counts[bucket(parts)] += int(n)
            frames[parts[-1]] += int(n)
            total += int(n)
    rows = [{"bucket": k, "share": f"{v / total:.1%}", "samples": v} for k, v in counts.most_common()]
    top = [{"innermost frame": k[:110], "share": f"{v / total:.1%}"} for k, v in frames.most_common(12)]
    print(table(rows, ["bucket", "share", "samples"],
                f"Where a served /predict spends its time: {len(pids)} worker(s), c=32, {load.get('rps', 0):,.0f} req/s "
                f"while sampled (py-spy, wall clock, 100 Hz, every thread)"))
    print(table(top, ["innermost frame", "share"], "Top innermost frames"))
    print(f"\nwritten {write('profile_serving', {'bento': str(bento.tag), 'load': load, 'buckets': rows, 'top': top})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
