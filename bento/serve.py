"""`make serve`: the latest built Bento on 127.0.0.1, HTTP on CHURN_HTTP_PORT (3000) and gRPC on
CHURN_GRPC_PORT (50051), with the deliberate serving settings (docs/SERVING.md)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from churn_assets.model.settings import ServingSettings, Settings


def _model_line(role: str, tag: str, meta: Mapping[str, Any] | None) -> str:
    """One served model: registry name and version, alias, the data set it was trained on."""
    if meta is None:
        return f"{role:<10} {tag} (not in the BentoML model store)"
    try:
        dataset = json.loads(meta.get("contract") or "{}").get("dataset") or "?"
    except (TypeError, ValueError):
        dataset = "?"
    name, version = meta.get("registry_name", "?"), meta.get("registry_version", "?")
    alias = f", {meta['alias']}" if meta.get("alias") else ""
    return f"{role:<10} {name} v{version}{alias} (BentoML model {tag}), dataset '{dataset}'"


def banner(bento_tag: str, labels: Mapping[str, str], models: Mapping[str, Mapping[str, Any] | None]) -> str:
    """What `make serve` serves: the Bento, and for each packed model (labels `model`, `challenger`,
    set by build_bento) its registry version and data set (the model's metadata, save_model)."""
    lines = [f"Bento      {bento_tag}"]
    for label, role in (("model", "model"), ("challenger", "challenger")):
        if labels.get(label):
            lines.append(_model_line(role, labels[label], models.get(labels[label])))
    if not labels.get("model"):
        lines.append("model      (the Bento names no model: built outside churn_bento?)")
    return "\n".join(lines)


def _metadata(tag: str) -> dict[str, Any] | None:
    import bentoml

    try:
        return dict(bentoml.models.get(tag).info.metadata)
    except bentoml.exceptions.NotFound:
        return None


def describe(bento) -> str:
    labels = dict(bento.info.labels)
    tags = [labels[k] for k in ("model", "challenger") if labels.get(k)]
    return banner(str(bento.tag), labels, {tag: _metadata(tag) for tag in tags})


def main() -> int:
    import bentoml

    settings = ServingSettings()
    try:
        bento = bentoml.get(settings.bento)
    except bentoml.exceptions.NotFound:
        print(f"no Bento {settings.bento} in {Settings().bentoml_home}: run `make demo` (or the churn_training "
              "job) first")
        return 1
    host, port = settings.http_host, str(settings.http_port)
    grpc_host = settings.grpc_host if "grpc_host" in settings.model_fields_set else host  # default: with HTTP
    # The server is a child process: it gets its settings in its own environment, ours is untouched.
    env = {"OMP_NUM_THREADS": "1", **os.environ,  # one OpenMP thread per worker unless the user set it
           "CHURN_GRPC_PORT": str(settings.grpc_port), "CHURN_GRPC_HOST": grpc_host,
           # resolved here, where CHURN_HOME means the project: the Bento runs from its store
           "CHURN_PREDICTION_LOG_URL": settings.prediction_log_url}
    keys = "API keys required" if settings.api_keys.get_secret_value() or settings.api_key_file else "no API keys"
    print(describe(bento), flush=True)
    print(f"serving {bento.tag}: HTTP http://{host}:{port} (docs at /), gRPC {grpc_host}:{settings.grpc_port} "
          f"(churn.v1.ChurnPredictor); {keys}", flush=True)
    os.execvpe(sys.executable, [sys.executable, "-m", "bentoml", "serve", str(bento.tag), "--host", host,
                                "--port", port], env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
