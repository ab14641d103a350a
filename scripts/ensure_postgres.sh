#!/usr/bin/env bash
# Start the machine's PostgreSQL when it is down (tests of the production path use it for real).
set -euo pipefail
host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
  exit 0
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is not running on $host:$port and pg_ctlcluster is not installed." >&2
  echo "Install it (apt-get install -y postgresql) or point CHURN_TEST_PG_URL at a server." >&2
  exit 1
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
echo "starting PostgreSQL $version on $host:$port"
pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 1 30); do
  pg_isready -q -h "$host" -p "$port" && exit 0
  sleep 1
done
echo "PostgreSQL did not become ready on $host:$port" >&2
exit 1
