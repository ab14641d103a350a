"""`make serve`: the latest built Bento on 127.0.0.1, HTTP on CHURN_HTTP_PORT (3000) and gRPC on
CHURN_GRPC_PORT (50051), with the deliberate serving settings (README, "Serving")."""

from __future__ import annotations

import os
import sys

from churn_assets.model.settings import ServingSettings, Settings


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
    print(f"serving {bento.tag}: HTTP http://{host}:{port} (docs at /), gRPC {grpc_host}:{settings.grpc_port} "
          f"(churn.v1.ChurnPredictor); {keys}", flush=True)
    os.execvpe(sys.executable, [sys.executable, "-m", "bentoml", "serve", str(bento.tag), "--host", host,
                                "--port", port], env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
