#!/usr/bin/env bash
# A Docker engine for `make container`, only when none is reachable.
#
#   eval "$(scripts/container_engine.sh start)"   # prints DOCKER_HOST=...; starts our own dockerd if needed
#   scripts/container_engine.sh stop              # stops only the dockerd that `start` started (by PID)
#
# Our dockerd keeps everything under .churn/docker/ (data root, socket, pid file, exec root), so it
# never touches a system engine. It runs with --iptables=false --ip-forward=false --bridge=none: no NAT
# rules, no forwarding change; builds and containers use host networking. ip_forward is recorded at
# start and written back at stop anyway. Installs Debian's docker.io when no dockerd is installed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${CHURN_DOCKER_STATE:-$ROOT/.churn/docker}
SOCK=$STATE/docker.sock
PIDFILE=$STATE/dockerd.pid
IPFWD=$STATE/ip_forward.saved
# The engine package's own CLI: a newer docker CLI elsewhere on PATH may refuse BuildKit without buildx.
DOCKER_CLI=$( [[ -x /usr/bin/docker ]] && echo /usr/bin/docker || command -v docker || true)

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
  mkdir -p "$STATE"
  cat /proc/sys/net/ipv4/ip_forward >"$IPFWD"
  rm -f "$SOCK"
  nohup dockerd --data-root "$STATE/data" --exec-root "$STATE/exec" -H "unix://$SOCK" --pidfile "$PIDFILE" \
    --iptables=false --ip-forward=false --bridge=none >"$STATE/dockerd.log" 2>&1 &
  echo $! >"$STATE/dockerd.started"
  for _ in $(seq 1 60); do
    if reachable "unix://$SOCK"; then echo "dockerd started (pid $(cat "$STATE/dockerd.started"))" >&2
      echo "export DOCKER_HOST=unix://$SOCK"; return; fi
    sleep 1
  done
  echo "dockerd did not come up: see $STATE/dockerd.log" >&2; exit 1
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
  awk -v root="$STATE/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount "$m"; done
  if [[ -f $IPFWD ]]; then cat "$IPFWD" >/proc/sys/net/ipv4/ip_forward; rm -f "$IPFWD"; fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  cli) echo "$DOCKER_CLI" ;;
  *) echo "usage: $0 start|stop|cli" >&2; exit 2 ;;
esac
