"""Execution policies shared by the domains: retries of steps that talk to external systems.

``code_version``: each asset module has a ``CODE_VERSION`` constant, passed to its assets. Bump it
by hand when the module changes what an asset computes (not for refactors, logging or metadata):
Dagster then marks the asset and everything downstream "code version changed" (stale) in the UI.
"""

import dagster as dg

# MLflow, the registry, the BentoML store and the predictions database can blink (a tracking server
# restart, a Postgres fail-over, SQLite busy under parallel steps). Two retries after ~2 s and ~4 s
# (+-jitter). Only idempotent steps get it: a retry must not register a second version or train again.
# Errors that a retry cannot fix are raised as `dg.Failure(..., allow_retries=False)`.
EXTERNAL_RETRY = dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
