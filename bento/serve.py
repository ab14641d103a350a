"""`make serve`: the latest built Bento on 127.0.0.1, HTTP on CHURN_HTTP_PORT (3000) and gRPC on
CHURN_GRPC_PORT (50051), with the deliberate serving settings (README, "Serving")."""

from __future__ import annotations

import os
import sys

from churn_assets.core.config import ServingSettings, Settings


def main() -> int:
    import bentoml

    serving = ServingSettings()
    tag = serving.bento
    try:
        bento = bentoml.get(tag)
    except bentoml.exceptions.NotFound:
        print(f"no Bento {tag} in {Settings().bentoml_home}: run `make demo` (or the churn_training job) first")
        return 1
    host, port = serving.http_host, str(serving.http_port)
    # The child gets the deliberate serving settings in its own environment (README, "Serving").
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "CHURN_GRPC_PORT": str(serving.grpc_port), "CHURN_GRPC_HOST": serving.grpc_host}
    print(f"serving {bento.tag}: HTTP http://{host}:{port} (docs at /), gRPC {env['CHURN_GRPC_HOST']}:"
          f"{env['CHURN_GRPC_PORT']} (churn.v1.ChurnPredictor)", flush=True)
    os.execvpe(sys.executable, [sys.executable, "-m", "bentoml", "serve", str(bento.tag), "--host", host,
                                "--port", port], env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
