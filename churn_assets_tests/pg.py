"""Real PostgreSQL and a real MLflow tracking server for the production-path tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from churn_assets.local.services import free_port, stop, wait_http

ADMIN_URL = os.environ.get("CHURN_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001  (any failure to connect means: skip with the reason)
        return False


requires_pg = pytest.mark.skipif(not pg_available(), reason="PostgreSQL is not accepting connections on "
                                 "127.0.0.1:5432 (make test / .ci/run start it; see scripts/ensure_postgres.sh)")


@contextlib.contextmanager
def temp_database(prefix: str = "churn_test") -> Iterator[str]:
    """A fresh database; yields its SQLAlchemy URL (psycopg 3 driver) and drops it afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def mlflow_server(backend_url: str, artifacts_dir: str) -> Iterator[str]:
    """`mlflow server` on a free loopback port with a Postgres backend store."""
    port = free_port()
    mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
    log = open(os.path.join(artifacts_dir, "..", f"mlflow-{port}.log"), "w")
    proc = subprocess.Popen(
        [mlflow_bin, "server", "--backend-store-uri", backend_url, "--artifacts-destination", artifacts_dir,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        log.close()
