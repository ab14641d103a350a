#!/usr/bin/env bash
# `make test` (what .ci/run runs): the suite, with the fault tier and then the container tier running
# alongside it. Those two mostly wait (on outages, backoff and an image build), so on two cores they
# cost the suite little; run one after the other they added ~12 min to CI. Each tier's output is kept
# apart and printed whole; the exit code is non-zero if any tier failed.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d "${TMPDIR:-/tmp}/churn-tests.XXXXXX")
# The side tiers run at a lower CPU priority (nice 10): they have ~10 min of slack on the suite, and
# on two cores the suite is what sets CI's wall time.
(
  nice -n 10 make --no-print-directory test-faults >"$logs/faults.log" 2>&1; echo $? >"$logs/faults.rc"
  nice -n 10 make --no-print-directory test-container >"$logs/container.log" 2>&1; echo $? >"$logs/container.rc"
) &
side=$!
trap 'kill -- -$side 2>/dev/null; kill $side 2>/dev/null' INT TERM
make --no-print-directory test-core
core=$?
wait "$side"
status=$core
for tier in faults container; do
  echo; echo "==================== tier: $tier ===================="
  cat "$logs/$tier.log"
  rc=$(cat "$logs/$tier.rc" 2>/dev/null || echo 1)
  [[ $rc == 0 ]] || status=1
  echo "tier $tier: exit $rc"
done
echo "tier core: exit $core"
rm -rf "$logs"
exit "$status"
