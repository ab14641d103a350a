"""Put the registry's champion into the BentoML model store and build the Bento from ``bento/``.

The saved model is the champion's own Pipeline (features, encoder, estimator) with everything
the service needs as metadata: registry name and version, threshold, test metrics, the data
contract (which generates the request schema) and an example record (OpenAPI, demo, README).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENTO_NAME = "churn_service"


def save_model(pipeline, name: str, registry_version: str, threshold: float, contract_json: str,
               metrics: dict[str, float], example: dict[str, Any], alias: str = "champion") -> str:
    import bentoml

    meta = {
        "registry_name": name, "registry_version": str(registry_version), "alias": alias,
        "threshold": float(threshold), "contract": contract_json, "example": json.dumps(example, default=str),
        "metrics": json.dumps({k: float(v) for k, v in metrics.items()}),
    }
    model = bentoml.sklearn.save_model(name, pipeline, metadata=meta,
                                       labels={"registry_version": str(registry_version), "alias": alias})
    return str(model.tag)


def build_bento(project_root: Path, model_tag: str, challenger_tag: str = "") -> str:
    """``bentoml build`` of bento/bentofile.yaml for ``model_tag`` and, when given, ``challenger_tag``
    (both models are packed; labels `model` and `challenger` name them) (offline, ~seconds).

    The service module reads its model tag (CHURN_BENTO_MODEL) when it is imported, which
    ``bentoml build`` does: the build runs in a child process that gets the tag in its own
    environment, so this process's environment is never written."""
    import bentoml

    # The child must use the store this process saved the model to (BentoML fixes its home when it is
    # first imported): <home>/models/<name>/<version>.
    home = Path(bentoml.models.get(model_tag).path).parents[2]
    env = {**os.environ, "CHURN_BENTO_MODEL": model_tag, "CHURN_BENTO_CHALLENGER": challenger_tag,
           "BENTOML_HOME": str(home)}
    labels = ["--label", f"model={model_tag}"] + (["--label", f"challenger={challenger_tag}"] if challenger_tag else [])
    with tempfile.TemporaryDirectory(prefix="bento-context-") as ctx:
        context = build_context(project_root, Path(ctx))
        out = subprocess.run([sys.executable, "-m", "bentoml", "build", "-f", str(context / "bento" / "bentofile.yaml"),
                              *labels, "-o", "tag", str(context)],
                             env=env, capture_output=True, text=True, check=False,
                             cwd=context)  # bentoml reads the bentofile's files from below the working folder
    if out.returncode != 0:
        raise RuntimeError(f"bentoml build failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    tag = out.stdout.strip().splitlines()[-1]
    return tag.split("__tag__:", 1)[-1] if "__tag__:" in tag else tag


def build_context(project_root: Path, into: Path) -> Path:
    """A build context holding only what bento/bentofile.yaml packs (its ``include`` globs, the
    requirements lock, the Dockerfile template, the bentofile itself), copied into ``into``.

    ``bentoml build`` walks its whole build context looking for ``.bentoignore`` files before it
    applies ``include``. From the project root that walk covered .venv and .churn; when the
    container test's Docker engine (its data root under .churn/docker) removed a layer directory
    during the walk, the build failed with FileNotFoundError (seen in a full suite, 2026-12-04)."""
    import shutil

    import yaml

    bentofile = project_root / "bento" / "bentofile.yaml"
    config = yaml.safe_load(bentofile.read_text())
    files = {bentofile, project_root / config["python"]["requirements_txt"],
             project_root / config["docker"]["dockerfile_template"]}
    for pattern in config["include"]:
        files |= {p for p in project_root.glob(pattern) if p.is_file()}
    for f in files:
        target = into / f.relative_to(project_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    return into


def example_record(frame, contract) -> dict[str, Any]:
    """One raw row as a client would send it (ISO dates, nulls), for docs and demos."""
    row = json.loads(frame.head(1).to_json(orient="records", date_format="iso"))[0]
    dates = set(contract.by_role("date"))
    cols = [contract.id_column] + [c.name for c in contract.columns if c.role != "drop"]
    return {k: (row[k][:10] if k in dates and isinstance(row.get(k), str) else row.get(k)) for k in cols}
