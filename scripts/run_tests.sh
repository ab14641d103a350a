#!/usr/bin/env bash
# `make test` (what .ci/run runs): the suite and the fault tier in one pytest-xdist pool, the longest
# modules first (conftest.LONGEST_FIRST), and the container tier alongside it. The fault tests mostly
# wait (outages, backoff), but their training runs need their share of the CPU: run apart at a lower
# priority they were starved on two cores (a tuning step 10x slower, a timeout). The container tier
# (an image build and a few requests) runs at nice 10. Each tier's output is printed whole; the exit
# code is non-zero if either failed.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d "${TMPDIR:-/tmp}/churn-tests.XXXXXX")
(
  nice -n 10 make --no-print-directory test-container >"$logs/container.log" 2>&1; echo $? >"$logs/container.rc"
) &
side=$!
trap 'kill -- -$side 2>/dev/null; kill $side 2>/dev/null' INT TERM
make --no-print-directory test-suite
suite=$?
wait "$side"
status=$suite
echo; echo "==================== tier: container ===================="
cat "$logs/container.log"
rc=$(cat "$logs/container.rc" 2>/dev/null || echo 1)
[[ $rc == 0 ]] || status=1
echo "tier container: exit $rc"
echo "tier suite (with the fault tier): exit $suite"
rm -rf "$logs"
exit "$status"
