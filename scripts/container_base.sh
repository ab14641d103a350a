#!/usr/bin/env bash
# Offline path: build the base image the Bento's Dockerfile names (`FROM python:3.11-slim`) from
# Debian packages, for sites where no container registry is reachable. With a registry, skip this:
# `docker pull python:3.11-slim` is the normal path (scripts/container_build.sh tries it first).
#
#   scripts/container_base.sh [--tag python:3.11-slim] [--suite bookworm] [--mirror URL] [--force]
#
# Needs root, debootstrap (installed with apt-get when missing) and a running Docker engine
# (DOCKER_HOST or the default socket). About 85 s on 2 cores; the rootfs is built in a temp dir.
set -euo pipefail

TAG=python:3.11-slim
SUITE=bookworm
MIRROR=$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
FORCE=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --tag) TAG=$2; shift 2 ;;
    --suite) SUITE=$2; shift 2 ;;
    --mirror) MIRROR=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
DOCKER=${DOCKER:-docker}

if [[ $FORCE == 0 ]] && $DOCKER image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG already present"
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

work=$(mktemp -d /tmp/churn-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
echo "debootstrap $SUITE from $MIRROR -> $TAG (offline stand-in for the registry image)"
# minbase + the interpreter; python3-pip only because BentoML's Dockerfile pip-installs uv.
debootstrap --variant=minbase --include=python3.11,python3-venv,python3-pip,ca-certificates \
  "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }

# What python:3.11-slim offers: `python`/`pip` on PATH, and pip allowed to install system-wide
# (the generated Dockerfile runs `pip install uv`; PEP 668's marker would refuse it).
rm -f "$rootfs"/usr/lib/python3.11/EXTERNALLY-MANAGED
for name in python python3; do ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/$name"; done
for name in pip pip3; do ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/$name"; done
# Lean: no apt lists/caches, docs, man pages or locales other than C.UTF-8.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log
# Same mirror for apt inside the image as on the host.
echo "deb $MIRROR $SUITE main" >"$rootfs/etc/apt/sources.list"

tar -C "$rootfs" --numeric-owner -c . | $DOCKER import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' \
  -m "debootstrap $SUITE minbase + python3.11 (offline stand-in for $TAG)" - "$TAG" >/dev/null
echo "base image $TAG: $($DOCKER image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1/1e6}')"
