"""Execution policies shared by the domains (retries of steps that talk to services: defs/common/services.py).

``code_version``: each asset module has a ``CODE_VERSION`` constant, passed to its assets. Bump it
by hand when the module changes what an asset computes (not for refactors, logging or metadata):
Dagster then marks the asset and everything downstream "code version changed" (stale) in the UI.
"""
