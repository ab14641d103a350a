"""Jobs that cross process boundaries (``dagster.execute_job``, the multiprocess executor's step
processes), built from the settings of the moment they are asked for.

Dagster keeps the last job a ``ReconstructableJob`` resolved (``get_definition`` is an
``lru_cache`` keyed on the reconstructable's pointer). With ``dagster.reconstructable(f)`` that key is
only the function's name, so a process that ran the job once, under one CHURN_HOME, got the same
job back later under another: its resources (MLflow store, model name) and all. Found when the test
suite shared a process between modules: a training run registered its champion in the previous
module's store. Here the settings are part of the key: they are serialized into the reconstructable's
arguments, and each step process rebuilds the job from them rather than from its environment.
"""

from __future__ import annotations

import json

import dagster as dg
from pydantic import SecretStr

from churn_assets.model.settings import ServingSettings, Settings


def job(name: str, settings: Settings | None = None, serving: ServingSettings | None = None) -> dg.ReconstructableJob:
    """Job ``name`` of the code location, built from ``settings`` (default: as the code location
    reads them now)."""
    if settings is None:
        from churn_assets.definitions import read_settings

        settings, serving = read_settings()
    payload = json.dumps({"settings": _public(settings),
                          "serving": _public(serving) if serving is not None else None}, sort_keys=True)
    return dg.build_reconstructable_job(__name__, "rebuild", reconstructable_args=(name, payload))


def _public(s: Settings | ServingSettings) -> dict:
    """Every setting but the secrets (SecretStr: API keys, id hash keys): the payload is stored with the
    run in Dagster's database, so secrets stay where they are (the environment, a mounted Secret) and
    each process reads them itself."""
    secret = {k for k, f in type(s).model_fields.items() if f.annotation is SecretStr}
    return s.model_dump(mode="json", exclude=secret)


def rebuild(name: str, payload: str) -> dg.JobDefinition:
    """The job again, in another process: settings from what was sent, secrets from this process's
    environment (see _public)."""
    from churn_assets.definitions import build_defs

    data = json.loads(payload)
    serving = ServingSettings(**data["serving"]) if data["serving"] is not None else None
    return build_defs(Settings(**data["settings"]), serving).resolve_job_def(name)
