#!/usr/bin/env bash
# A Docker engine for `make container`, only when none is reachable.
#
#   eval "$(scripts/container_engine.sh start)"   # prints DOCKER_HOST=...; starts our own dockerd if needed
#   scripts/container_engine.sh stop              # stops only the dockerd that `start` started (by PID)
#   scripts/container_engine.sh paths             # where the engine keeps what (KEY=value lines)
#
# Our dockerd keeps its data (images, build cache) and log under CHURN_HOME/docker/ (CHURN_DOCKER_STATE),
# and its sockets and exec root in a short runtime folder, /run/churn-<hash of that state folder>/
# (/tmp/ch-<hash> where /run is not writable; CHURN_DOCKER_RUN sets it): a Unix socket path has at most
# 107 bytes, and under a deep checkout containerd's socket (<exec root>/containerd/containerd-debug.sock)
# was longer, so dockerd died with "timeout waiting for containerd to start". It never touches a system
# engine. It runs with --iptables=false --ip-forward=false --bridge=none: no NAT rules, no forwarding
# change; builds and containers use host networking. ip_forward is recorded at start and written back at
# stop anyway. Installs Debian's docker.io when no dockerd is installed. A start that fails stops there
# with dockerd's own last log lines.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${CHURN_DOCKER_STATE:-${CHURN_HOME:-$ROOT/.churn}/docker}
STATE=$(realpath -m "$STATE")
_hash=$(printf %s "$STATE" | sha256sum | cut -c1-12)
if [[ -n ${CHURN_DOCKER_RUN:-} ]]; then RUNDIR=$CHURN_DOCKER_RUN
elif [[ -d /run && -w /run ]]; then RUNDIR=/run/churn-$_hash
else RUNDIR=/tmp/ch-$_hash; fi
SOCK=$RUNDIR/docker.sock
EXEC_ROOT=$RUNDIR/exec
# The longest socket dockerd's containerd creates under the exec root.
CONTAINERD_SOCK=$EXEC_ROOT/containerd/containerd-debug.sock
MAX_SOCK=100  # bytes, under the kernel's 108 (sun_path) with room to spare
PIDFILE=$RUNDIR/dockerd.pid
IPFWD=$STATE/ip_forward.saved
LOG=$STATE/dockerd.log
# The engine package's own CLI: a newer docker CLI elsewhere on PATH may refuse BuildKit without buildx.
# CHURN_DOCKER_CLI names another one.
DOCKER_CLI=${CHURN_DOCKER_CLI:-$( [[ -x /usr/bin/docker ]] && echo /usr/bin/docker || command -v docker || true)}

reachable() { [[ -n $DOCKER_CLI ]] && DOCKER_HOST=$1 timeout 10 "$DOCKER_CLI" info >/dev/null 2>&1; }

start() {
  if [[ -n ${DOCKER_HOST:-} ]] && reachable "$DOCKER_HOST"; then echo "export DOCKER_HOST=$DOCKER_HOST"; return; fi
  if reachable unix:///var/run/docker.sock; then echo "export DOCKER_HOST=unix:///var/run/docker.sock"; return; fi
  if reachable "unix://$SOCK"; then echo "export DOCKER_HOST=unix://$SOCK"; return; fi
  if ! command -v dockerd >/dev/null; then
    echo "no Docker engine: installing Debian's docker.io" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io) >&2
    DOCKER_CLI=/usr/bin/docker
  fi
  for path in "$SOCK" "$CONTAINERD_SOCK"; do
    if (( ${#path} >= MAX_SOCK )); then
      echo "socket path too long (${#path} bytes, limit $MAX_SOCK): $path; set CHURN_DOCKER_RUN to a short folder" >&2
      exit 1
    fi
  done
  mkdir -p "$STATE" "$RUNDIR"
  cat /proc/sys/net/ipv4/ip_forward >"$IPFWD"
  rm -f "$SOCK"
  nohup dockerd --data-root "$STATE/data" --exec-root "$EXEC_ROOT" -H "unix://$SOCK" --pidfile "$PIDFILE" \
    --iptables=false --ip-forward=false --bridge=none >"$LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$STATE/dockerd.started"
  for _ in $(seq 1 90); do
    if reachable "unix://$SOCK"; then echo "dockerd started (pid $pid, socket $SOCK)" >&2
      echo "export DOCKER_HOST=unix://$SOCK"; return; fi
    kill -0 "$pid" 2>/dev/null || break  # dockerd exited: no use waiting
    sleep 1
  done
  {
    if kill -0 "$pid" 2>/dev/null; then echo "dockerd (pid $pid) did not answer on unix://$SOCK in 90 s"
    else echo "dockerd exited during start-up"; fi
    echo "--- last lines of $LOG:"
    tail -n 15 "$LOG"
  } >&2
  stop >/dev/null 2>&1 || true
  exit 1
}

paths() {
  printf '%s\n' "STATE=$STATE" "RUNDIR=$RUNDIR" "SOCK=$SOCK" "EXEC_ROOT=$EXEC_ROOT" \
    "CONTAINERD_SOCK=$CONTAINERD_SOCK" "DATA_ROOT=$STATE/data" "LOG=$LOG"
}

stop() {
  [[ -f $STATE/dockerd.started ]] || { echo "no dockerd started by this script" >&2; return; }
  pid=$(cat "$STATE/dockerd.started")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "dockerd $pid stopped" >&2
  fi
  rm -f "$STATE/dockerd.started"
  # dockerd leaves its default network namespace bind-mounted under the exec root.
  for root in "$RUNDIR/" "$STATE/"; do
    awk -v root="$root" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount "$m"; done
  done
  rm -rf "$RUNDIR"
  if [[ -f $IPFWD ]]; then cat "$IPFWD" >/proc/sys/net/ipv4/ip_forward; rm -f "$IPFWD"; fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  cli) echo "$DOCKER_CLI" ;;
  paths) paths ;;
  *) echo "usage: $0 start|stop|cli|paths" >&2; exit 2 ;;
esac
