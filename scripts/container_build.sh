#!/usr/bin/env bash
# `make container`: the Bento image with `bentoml containerize`, then its tag and size.
#
#   scripts/container_build.sh [--bento churn_service:latest] [--tag churn_service:latest]
#                              [--ca-certs auto|host|none|FILE] [--offline] [--keep-engine] [--results FILE]
#
# - Bento: the latest built one (`make demo` or the churn_training job). If there is none, a small
#   one is trained and built first (5,000 synthetic rows, 4 trials, ~30 s). A Bento built with another
#   image template than bento/Dockerfile.template is rebuilt from its own model (~3 s).
# - Engine: DOCKER_HOST, the system socket, or our own dockerd (scripts/container_engine.sh).
# - Base image (`FROM python:3.11-slim`): used if present; else pulled from the registry; where no
#   registry answers (or with --offline) built from Debian packages (scripts/container_base.sh).
# - --ca-certs auto|host|none|FILE: trust extra CA certificates inside the build and the image
#   (corporate TLS proxies); layered onto the base image as churn-base-ca:local, SSL_CERT_FILE set.
# Writes bench/results/container.json (tag, size_mb, build seconds; --results elsewhere).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
BENTO=${CHURN_BENTO:-churn_service:latest}
TAG=churn_service:latest
CA_CERTS=${CA_CERTS:-auto}
OFFLINE=0
KEEP_ENGINE=0
RESULTS=$ROOT/bench/results/container.json
while [[ $# -gt 0 ]]; do
  case $1 in
    --bento) BENTO=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --ca-certs) CA_CERTS=$2; shift 2 ;;
    --offline) OFFLINE=1; shift ;;
    --keep-engine) KEEP_ENGINE=1; shift ;;
    --results) RESULTS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export BENTOML_DO_NOT_TRACK=true
# All local state under CHURN_HOME (as `make` exports it), the BentoML store and the Dagster home too.
# Absolute: bentoml containerize runs from another folder.
CHURN_HOME=$(realpath -m "${CHURN_HOME:-$ROOT/.churn}")
export CHURN_HOME
mkdir -p "$CHURN_HOME"
BENTOML_HOME=$(realpath -m "${BENTOML_HOME:-$CHURN_HOME/bentoml}")
export BENTOML_HOME

# --- the Bento -----------------------------------------------------------------------------------
# Folder, tag and model labels through the BentoML Python API (scripts/bento_info.py): `bentoml get`'s
# console wraps at 80 columns, so a long store path came back with a newline in it.
bento_info() {  # sets bento_dir bento_tag model_tag; fails when there is no such Bento
  local out
  out=$("$PY" "$ROOT/scripts/bento_info.py" "$1") || return 1
  mapfile -t _info < <(tail -4 <<<"$out")
  bento_dir=${_info[0]}; bento_tag=${_info[1]}; model_tag=${_info[2]}
}
if ! bento_info "$BENTO"; then
  echo "no Bento $BENTO in $BENTOML_HOME: training and building a small one" \
       "(5,000 synthetic rows; \`make demo\` builds the full one)"
  mkdir -p "${DAGSTER_HOME:-$CHURN_HOME/dagster_home}"
  "$ROOT/.venv/bin/churn-assets" demo --rows 5000 --trials 4 --no-serve --no-loop >"$CHURN_HOME/container-demo.log" 2>&1 \
    || { tail -30 "$CHURN_HOME/container-demo.log"; exit 1; }
  bento_info "$BENTO" || { echo "the demo built no Bento $BENTO in $BENTOML_HOME" >&2; exit 1; }
fi
if ! cmp -s "$bento_dir/env/docker/Dockerfile.template" "$ROOT/bento/Dockerfile.template"; then
  echo "Bento $BENTO was built without the current bento/Dockerfile.template: rebuilding it from its model"
  # From $ROOT: bentoml reads the bentofile's files from below the working directory only.
  BENTO=$(cd "$ROOT" && "$PY" -c '
import sys
from pathlib import Path
from churn_assets.core.registry.packaging import build_bento
print(build_bento(Path(sys.argv[2]), sys.argv[1]))' "$model_tag" "$ROOT" | tail -1)
  echo "rebuilt as $BENTO"
  bento_info "$BENTO"
fi

# --- the engine ----------------------------------------------------------------------------------
ENGINE_STATE=${CHURN_DOCKER_STATE:-$CHURN_HOME/docker}
export CHURN_DOCKER_STATE=$ENGINE_STATE
before_engine=$( [[ -f $ENGINE_STATE/dockerd.started ]] && echo 1 || echo 0 )
# Not `eval "$(... start)"`: eval of an empty output succeeds, so a failed start went unnoticed and
# docker later reported the system socket instead of the real cause.
engine_env=$("$ROOT/scripts/container_engine.sh" start) || exit 1
eval "$engine_env"
if [[ $before_engine == 0 && -f $ENGINE_STATE/dockerd.started && $KEEP_ENGINE == 0 ]]; then
  trap '"$ROOT/scripts/container_engine.sh" stop' EXIT
fi
DOCKER=$("$ROOT/scripts/container_engine.sh" cli)
export DOCKER
# bentoml calls `docker` from PATH: make it the engine package's CLI (BuildKit built in).
shim=$(mktemp -d)
ln -s "$DOCKER" "$shim/docker"
export PATH=$shim:$PATH DOCKER_BUILDKIT=1

# --- the base image ------------------------------------------------------------------------------
base=$(sed -n 's/^ARG BASE_IMAGE=//p' < <(cd /tmp && "$PY" -c "
import bentoml, sys; sys.stdout.write(bentoml.container.get_containerfile('$bento_tag'))" 2>/dev/null))
base=${base:-python:3.11-slim}
t0=$(date +%s%N)
if $DOCKER image inspect "$base" >/dev/null 2>&1; then
  base_source=present
elif [[ $OFFLINE == 0 ]] && timeout 120 "$DOCKER" pull -q "$base" >/dev/null 2>&1; then
  base_source=registry
else
  echo "no registry answered for $base: offline path, building it from Debian packages"
  "$ROOT/scripts/container_base.sh" --tag "$base"
  base_source=debootstrap
fi
base_s=$(( ($(date +%s%N) - t0) / 1000000 ))  # ms
build_args=(--opt "build-arg=CHURN_BENTO_MODEL=$model_tag")
# Extra CA certificates: `auto` (default) = those the host trusts beyond Debian's ca-certificates set
# (e.g. a TLS-intercepting proxy's CA; if there are none nothing is added), `host` = the same but
# required, `none` = never, or a PEM file.
extra_ca=$(mktemp)
case $CA_CERTS in
  none) : ;;
  auto|host) "$PY" "$ROOT/scripts/host_extra_ca.py" >"$extra_ca"
    if [[ $CA_CERTS == host && ! -s $extra_ca ]]; then echo "--ca-certs host: the host has no extra CA" >&2; exit 1; fi ;;
  *) cp "$CA_CERTS" "$extra_ca" ;;
esac
ca_count=$(grep -c 'BEGIN CERTIFICATE' "$extra_ca" || true)
if [[ $ca_count -gt 0 ]]; then
  ctx=$(mktemp -d)
  mv "$extra_ca" "$ctx/extra-ca.pem"
  # uv (which installs the Bento's packages), pip and Python read these variables, not the system store.
  printf '%s\n' "FROM $base" \
    'COPY extra-ca.pem /usr/local/share/churn-extra-ca.pem' \
    'RUN cat /etc/ssl/certs/ca-certificates.crt /usr/local/share/churn-extra-ca.pem > /etc/ssl/certs/churn-ca-bundle.pem' \
    'ENV SSL_CERT_FILE=/etc/ssl/certs/churn-ca-bundle.pem PIP_CERT=/etc/ssl/certs/churn-ca-bundle.pem REQUESTS_CA_BUNDLE=/etc/ssl/certs/churn-ca-bundle.pem' \
    >"$ctx/Dockerfile"
  $DOCKER build -q --network host -t churn-base-ca:local "$ctx" >/dev/null
  rm -rf "$ctx"
  build_args+=(--opt build-arg=BASE_IMAGE=churn-base-ca:local)
  echo "trusting $ca_count extra CA certificate(s) ($CA_CERTS) in the build and the image (SSL_CERT_FILE)"
else
  rm -f "$extra_ca"
fi

# --- bentoml containerize ------------------------------------------------------------------------
# From /tmp: bentoml 1.4.40 refuses a dockerfile_template outside the working directory, and
# containerize renders it from a temp copy of the Bento.
t0=$(date +%s%N)
(cd "${TMPDIR:-/tmp}" && "$PY" -m bentoml containerize "$bento_tag" -t "$TAG" --opt network=host "${build_args[@]}") \
  >"$CHURN_HOME/container-build.log" 2>&1 || { tail -40 "$CHURN_HOME/container-build.log"; exit 1; }
build_s=$(( ($(date +%s%N) - t0) / 1000000 ))  # ms
rm -rf "$shim"

size=$($DOCKER image inspect -f '{{.Size}}' "$TAG")
size_mb=$((size / 1000000))
mkdir -p "$(dirname "$RESULTS")"
"$PY" - "$RESULTS" <<EOF
import json, sys, time
json.dump({"tag": "$TAG", "bento": "$bento_tag", "size_mb": $size_mb, "size_bytes": $size,
           "build_s": round($build_s / 1000, 1), "base_image": "$base", "base_source": "$base_source",
           "base_s": round($base_s / 1000, 1), "extra_ca_certs": $ca_count, "ca_certs": "$CA_CERTS",
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
          open(sys.argv[1], "w"), indent=2)
EOF
echo "built $TAG from $bento_tag in $((build_s / 1000)) s (base $base: $base_source)"
echo "image: $TAG"
echo "image size: $size_mb MB"
