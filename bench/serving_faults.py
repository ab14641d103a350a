"""Faults under load: 60 s at c=64 with keys and the prediction log on; one worker is killed
(SIGKILL) at 20 s. Once over HTTP (wrk, per-second counts from its Lua hooks), once over gRPC
(bench/grpc_load.py, every call recorded). Reported: failed requests (target < 0.5%, and no more
than the calls that can have been in flight on the killed worker: one per connection), the time
until /readyz answers 200 and a new worker runs, the time until throughput is back (>= 90% of the
pre-kill mean), and the RSS growth of the surviving worker over the soak (target < 10%).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from bench.load_tools import start_bento
from churn_assets.local.services import stop

TARGET_FAILED_SHARE, TARGET_RSS_GROWTH = 0.005, 0.10
WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("AUTH")
wrk.body = io.open(os.getenv("BODY")):read("*a")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = {}; bad = {} end
function response(status, headers, body)
  local t = os.time()
  if status == 200 then ok[t] = (ok[t] or 0) + 1 else bad[t] = (bad[t] or 0) + 1 end
end
function done(summary, latency, requests)
  for _, th in ipairs(threads) do
    for k, v in pairs(th:get("ok")) do io.write(string.format("OK %d %d\\n", k, v)) end
    for k, v in pairs(th:get("bad")) do io.write(string.format("BAD %d %d\\n", k, v)) end
  end
  local e = summary.errors
  io.write(string.format("ERRORS %d\\n", e.connect + e.read + e.write + e.timeout))
end
"""


def workers(server_pid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.Process(server_pid).children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "_bentoml_impl.worker.service" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:  # exited (the killed worker) between listing and reading
            continue
    return sorted(out, key=lambda p: p.pid)


class Watch(threading.Thread):
    """Every 0.1 s: /readyz status and the worker PIDs and RSS, from the start of the load."""

    def __init__(self, base: str, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.base, self.server_pid, self.samples, self.halt = base, server_pid, [], threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                code = urllib.request.urlopen(self.base + "/readyz", timeout=2).status
            except Exception:  # noqa: BLE001  (refused, reset, 503: not ready)
                code = 0
            rss = {}
            for p in workers(self.server_pid):
                try:
                    rss[p.pid] = p.memory_info().rss
                except psutil.Error:
                    pass
            self.samples.append((time.time(), code, rss))
            self.halt.wait(0.1)


def _recovery(per_second: dict[int, int], kill_s: int, seconds: int) -> tuple[float, float | None]:
    before = [per_second.get(s, 0) for s in range(5, kill_s)]
    base = sum(before) / max(1, len(before))
    back = next((s - kill_s for s in range(kill_s + 1, seconds) if per_second.get(s, 0) >= 0.9 * base), None)
    return base, back


def soak(transport: str, tag: str, env: dict, body: str, record: dict, key: str, seconds: int, kill_at: int,
         conc: int, tmp: Path) -> dict:
    proc, http_port, grpc_port = start_bento(tag, env, tmp / f"faults-{transport}.log")
    base = f"http://127.0.0.1:{http_port}"
    try:
        watch = Watch(base, proc.pid)
        started = time.time()
        watch.start()
        if transport == "HTTP":
            (tmp / "faults.lua").write_text(WRK_LUA)
            (tmp / "faults-body.json").write_text(body)
            load = subprocess.Popen(["wrk", "-t2", f"-c{conc}", f"-d{seconds}s", "--timeout", "5s", "-s",
                                     str(tmp / "faults.lua"), f"{base}/predict"], stdout=subprocess.PIPE, text=True,
                                    env={**os.environ, "AUTH": f"Bearer {key}", "BODY": str(tmp / "faults-body.json")})
        else:
            (tmp / "faults-record.json").write_text(json.dumps(record))
            load = subprocess.Popen([sys.executable, "-m", "bench.grpc_load", "--target", f"127.0.0.1:{grpc_port}",
                                     "--record", str(tmp / "faults-record.json"), "--seconds", str(seconds),
                                     "--concurrency", str(conc), "--api-key", key, "--out",
                                     str(tmp / "grpc-load.json")], stdout=subprocess.PIPE, text=True)
        time.sleep(max(0.0, started + kill_at - time.time()))
        before_kill = workers(proc.pid)
        victim, survivor = before_kill[0], before_kill[-1]
        killed_at = time.time()
        os.kill(victim.pid, signal.SIGKILL)
        out, _ = load.communicate(timeout=seconds + 60)
        watch.halt.set()
        watch.join()
    finally:
        stop(proc)
    after = [s for s in watch.samples if s[0] > killed_at]
    ready_back = next((t - killed_at for t, code, _ in after if code == 200), None)
    not_ready = sum(1 for _, code, _ in after if code != 200)
    new_pids = {pid for _, _, rss in after for pid in rss} - {p.pid for p in before_kill}
    respawned = next((t - killed_at for t, _, rss in after if set(rss) & new_pids), None)
    rss_surv = [rss[survivor.pid] for t, _, rss in watch.samples if survivor.pid in rss and t - started >= 5]
    if transport == "HTTP":
        ok, bad, errors = {}, 0, 0
        for line in out.splitlines():
            parts = line.split()
            if parts[:1] == ["OK"]:
                ok[int(parts[1])] = ok.get(int(parts[1]), 0) + int(parts[2])
            elif parts[:1] == ["BAD"]:
                bad += int(parts[2])
            elif parts[:1] == ["ERRORS"]:
                errors = int(parts[1])
        t0 = min(ok) if ok else int(started)
        per_second = {s - t0: v for s, v in ok.items()}
        failed, codes = bad + errors, {"non-200": bad, "socket errors": errors}
    else:
        res = json.loads((tmp / "grpc-load.json").read_text())
        per_second = {int(k): v for k, v in res["ok_per_second"].items()}
        failed = len(res["failures"])
        codes = {}
        for _, _, code in res["failures"]:
            codes[code] = codes.get(code, 0) + 1
    total = sum(per_second.values()) + failed
    kill_s = int(killed_at - started)
    base_rps, back = _recovery(per_second, kill_s, seconds)
    growth = (rss_surv[-1] / rss_surv[0] - 1) if len(rss_surv) > 1 else None
    return {"transport": transport, "concurrency": conc, "seconds": seconds, "kill_at_s": round(killed_at - started, 1),
            "requests": total, "failed": failed, "failed_share": failed / max(1, total), "failure_kinds": codes,
            "in_flight_bound": conc, "rps_before_kill": round(base_rps), "throughput_back_s": back,
            "readyz_back_s": None if ready_back is None else round(ready_back, 2), "readyz_not_ready_samples": not_ready,
            "worker_respawned_s": None if respawned is None else round(respawned, 2),
            "survivor_rss_mb_start": round(rss_surv[0] / 2**20, 1) if rss_surv else None,
            "survivor_rss_mb_end": round(rss_surv[-1] / 2**20, 1) if rss_surv else None,
            "survivor_rss_growth": growth}


def run_faults(tag: str, env: dict, body: str, record: dict, tmp: Path, seconds: int = 60, kill_at: int = 20,
               conc: int = 64) -> dict:
    key = "faults-" + os.urandom(12).hex()
    env = {**env, "CHURN_API_KEYS": key, "CHURN_PREDICTION_LOG": "true",
           "CHURN_PREDICTION_LOG_URL": f"sqlite:///{tmp}/faults-prediction_log.db"}
    rows = [soak(t, tag, env, body, record, key, seconds, kill_at, conc, tmp) for t in ("HTTP", "gRPC")]
    checks = {}
    for r in rows:
        t = r["transport"]
        checks[f"{t}: failed < {TARGET_FAILED_SHARE:.1%} of requests"] = r["failed_share"] < TARGET_FAILED_SHARE
        checks[f"{t}: failed <= calls in flight (one per connection)"] = r["failed"] <= r["in_flight_bound"]
        checks[f"{t}: worker respawned, throughput back"] = r["worker_respawned_s"] is not None and \
            r["throughput_back_s"] is not None
        checks[f"{t}: surviving worker RSS growth < {TARGET_RSS_GROWTH:.0%}"] = \
            r["survivor_rss_growth"] is not None and r["survivor_rss_growth"] < TARGET_RSS_GROWTH
    return {"rows": rows, "checks": checks}
