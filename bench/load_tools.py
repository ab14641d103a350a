"""Load-generation and server helpers shared by the serving benchmarks (wrk for HTTP, h2load for gRPC,
a Bento in a subprocess, the server's gRPC status counters)."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

from churn_assets.local.services import free_port, wait_http

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if os.getenv("AUTH") and os.getenv("AUTH") ~= "" then wrk.headers["Authorization"] = os.getenv("AUTH") end
wrk.body = io.open(os.getenv("BODY")):read("*a")
local bad = 0
response = function(status, headers, body) if status ~= 200 then bad = bad + 1 end end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %f %f %f %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    e.connect + e.read + e.write + e.timeout + e.status + bad))
end
"""


def wrk(url: str, body: str, conc: int, seconds: int, tmp: Path, auth: str = "", warmup: int = 2) -> dict:
    lua, data = tmp / "post.lua", tmp / f"body-{abs(hash(body))}.json"
    lua.write_text(WRK_LUA)
    data.write_text(body)
    threads = 1 if conc == 1 else 2
    env = {**os.environ, "BODY": str(data), "AUTH": auth}
    subprocess.run(["wrk", f"-t{threads}", f"-c{conc}", f"-d{warmup}s", "-s", str(lua), url], env=env,
                   capture_output=True, check=True)  # warm-up
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conc}", f"-d{seconds}s", "--timeout", "5s", "-s", str(lua),
                          url], env=env, capture_output=True, text=True, check=True).stdout
    rps, p50, p99, n, errors = next(line for line in out.splitlines() if line.startswith("RESULT")).split()[1:]
    return {"rps": float(rps), "p50_ms": float(p50), "p99_ms": float(p99), "requests": int(n), "errors": int(errors)}


def grpc_frame(message) -> bytes:
    payload = message.SerializeToString()
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def h2load(url: str, frame: bytes, conc: int, seconds: int, tmp: Path, auth: str = "", warmup: int = 2) -> dict:
    data, log = tmp / f"grpc-{len(frame)}.bin", tmp / "h2load.log"
    data.write_bytes(frame)
    conns, streams = conc, 1  # one connection per in-flight call, as wrk does for HTTP
    args = ["h2load", "-c", str(conns), "-m", str(streams), "-d", str(data), "-H", "content-type: application/grpc",
            "-H", "te: trailers", *(["-H", f"authorization: {auth}"] if auth else []), url]
    subprocess.run(args[:1] + ["-D", str(warmup)] + args[1:], capture_output=True, check=True)  # warm-up
    log.unlink(missing_ok=True)
    out = subprocess.run(args[:1] + ["-D", str(seconds), f"--log-file={log}"] + args[1:], capture_output=True,
                         text=True, check=True).stdout
    lat = sorted(int(line.split("\t")[2]) / 1000 for line in log.read_text().splitlines() if line.strip())
    status_ok = [line.split("\t")[1] == "200" for line in log.read_text().splitlines() if line.strip()]
    summary = next((x for x in out.splitlines() if x.strip().startswith("requests:")), "")
    failed = sum(int(m) for m in re.findall(r"(\d+) (?:failed|errored|timeout)", summary))
    n = len(lat)
    return {"rps": n / seconds, "p50_ms": lat[n // 2], "p99_ms": lat[min(n - 1, int(n * 0.99))], "requests": n,
            "errors": status_ok.count(False) + failed}


def grpc_codes(metrics_url: str) -> dict[str, int]:
    """Server-side gRPC status counts (all methods) from the Bento's Prometheus /metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    out: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "churn_grpc_requests_total":
                out[sample.labels["code"]] = out.get(sample.labels["code"], 0) + int(sample.value)
    return out


def start_bento(tag: str, env: dict, log_path: Path) -> tuple[subprocess.Popen, int, int]:
    """A Bento on free loopback ports in its own process group: (process, HTTP port, gRPC port)."""
    http_port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1", "--port",
                             str(http_port)], env={**env, "CHURN_GRPC_PORT": str(grpc_port)},
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{http_port}/readyz", 120, proc)
    return proc, http_port, grpc_port


