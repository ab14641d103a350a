"""A Docker engine for the container test: the one already running, or our own dockerd.

If DOCKER_HOST, the system socket or the project's engine socket (state in .churn/docker, shared with
`make container`, so the build cache is reused) answers, that engine is used and left running.
Otherwise Debian's docker.io is installed when missing, and a dockerd of our own is started with its
own data root, exec root and socket, without iptables/ip_forward/bridge changes (builds and
containers use host networking), and stopped by its PID at the end. ip_forward is read before and
written back after, whatever happened.

Where it keeps what comes from scripts/container_engine.sh (`paths`), the one place that decides it:
the data root stays in the state folder, the sockets and exec root go to a short runtime folder
(/run/churn-<hash>), since a Unix socket path under a deep checkout exceeded the 108-byte limit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from churn_assets.local.services import stop

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
ENGINE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "container_engine.sh"
MAX_SOCKET_BYTES = 100  # the kernel's sun_path holds 108 bytes with the NUL


def engine_paths(state: Path, script: Path = ENGINE_SCRIPT) -> dict[str, Path]:
    """STATE, RUNDIR, SOCK, EXEC_ROOT, CONTAINERD_SOCK, DATA_ROOT, LOG of the engine for ``state``,
    as `make container` computes them (scripts/container_engine.sh paths)."""
    out = subprocess.run([str(script), "paths"], env={**os.environ, "CHURN_DOCKER_STATE": str(state)},
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return {k: Path(v) for k, v in (line.split("=", 1) for line in out.splitlines() if "=" in line)}


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Engine:
    host: str  # DOCKER_HOST value
    cli: str  # the docker CLI to call
    started_pid: int | None  # our dockerd, or None when an existing engine is used

    def docker(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([self.cli, *args], env={**os.environ, "DOCKER_HOST": self.host}, check=check,
                              capture_output=True, text=True, timeout=timeout)


def docker_cli() -> str | None:
    # The engine package's own CLI: a newer standalone CLI may refuse BuildKit without buildx.
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")


def reachable(cli: str | None, host: str) -> bool:
    if not cli:
        return False
    try:
        return subprocess.run([cli, "info"], env={**os.environ, "DOCKER_HOST": host}, capture_output=True,
                              timeout=15, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def install_engine() -> None:
    if os.geteuid() != 0:
        raise PermissionError("no Docker engine running and not root: cannot install docker.io")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "docker.io"], check=True, env=env, capture_output=True,
                   timeout=900)


def unmount_below(root: Path) -> None:
    """dockerd leaves its default network namespace bind-mounted under the exec root."""
    prefix = f"{root.resolve()}/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", mount], check=False, capture_output=True, timeout=30)


@contextlib.contextmanager
def docker_engine(state: Path) -> Iterator[Engine]:
    cli = docker_cli()
    paths = engine_paths(state)
    sock, run_dir, exec_root = paths["SOCK"], paths["RUNDIR"], paths["EXEC_ROOT"]
    for host in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock", f"unix://{sock}"):
        if host and reachable(cli, host):
            yield Engine(host, cli, None)
            return
    for path in (sock, paths["CONTAINERD_SOCK"]):
        if len(os.fsencode(path)) >= MAX_SOCKET_BYTES:
            raise RuntimeError(f"socket path too long ({len(os.fsencode(path))} bytes): {path}")
    if not shutil.which("dockerd"):
        install_engine()
        cli = docker_cli()
    state.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    forward_before = IP_FORWARD.read_text()
    sock.unlink(missing_ok=True)
    log_path = state / "dockerd-test.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(paths["DATA_ROOT"]), "--exec-root", str(exec_root), "-H", f"unix://{sock}",
         "--pidfile", str(run_dir / "dockerd.pid"), "--iptables=false", "--ip-forward=false", "--bridge=none"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 90
        while not reachable(cli, f"unix://{sock}"):
            if proc.poll() is not None or time.time() > deadline:
                why = f"exited ({proc.returncode})" if proc.returncode is not None else "no answer in 90 s"
                raise RuntimeError(f"dockerd did not come up ({why}); last lines of {log_path}:\n{_tail(log_path)}")
            time.sleep(0.5)
        yield Engine(f"unix://{sock}", cli, proc.pid)
    finally:
        # dockerd stops its containers' shims and its own containerd on SIGTERM.
        stop(proc, grace=60, whole_group=False)
        log.close()
        unmount_below(run_dir)
        unmount_below(state)
        shutil.rmtree(run_dir, ignore_errors=True)
        if IP_FORWARD.read_text() != forward_before:
            IP_FORWARD.write_text(forward_before)
