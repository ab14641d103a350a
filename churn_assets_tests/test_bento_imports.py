"""bento/ has no import cycle (service <-> grpc_server was one), and the tests do not import bench/."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path, package: str) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n.split(".")[1] for n in names if n.startswith(package + ".") and (ROOT / package /
                                                                                 f"{n.split('.')[1]}.py").is_file()}
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    return next((c for n in sorted(graph) if n not in state and (c := visit(n, []))), None)


def test_bento_modules_import_without_a_cycle():
    graph = {p.stem: _imports(p, "bento") for p in (ROOT / "bento").glob("*.py")}
    assert graph["service"] >= {"grpc_server", "edge"}  # the graph is really built
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]  # and a cycle would be found
    assert _cycle(graph) is None, _cycle(graph)


def test_tests_do_not_import_bench():
    for path in (ROOT / "churn_assets_tests").glob("*.py"):
        tree = ast.parse(path.read_text())
        mods = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module] + \
               [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in mods if m == "bench" or m.startswith("bench.")], path.name


HEAVY = ("mlflow", "optuna", "dagster", "numba")
_IMPORT_ALL = f"HEAVY = {HEAVY!r}" + """
import importlib, pkgutil, sys
import churn_assets.model
names = [m.name for m in pkgutil.iter_modules(churn_assets.model.__path__, "churn_assets.model.")]
names += ["bento." + m for m in ("arms", "schemas", "edge", "keys", "grpc_server", "explain_api", "metrics",
                                 "openapi", "grpc_codec", "client", "bentoml_patches")] + sys.argv[1:]
for n in names:
    importlib.import_module(n)
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))))
"""


def _heavy_loaded(*extra: str, env: dict | None = None) -> set[str]:
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _IMPORT_ALL, *extra], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(proc.stdout.split())


def test_the_bentofile_ships_the_serving_kernel_and_bento_only():
    import yaml

    include = yaml.safe_load((ROOT / "bento" / "bentofile.yaml").read_text())["include"]
    assert sorted(include) == ["bento/*.py", "bento/churn.proto", "churn_assets/__init__.py", "churn_assets/model/*.py"]


def test_the_serving_kernel_loads_no_training_or_orchestration_library():
    assert _heavy_loaded() == set()
    assert _heavy_loaded("optuna") == {"optuna"}  # the check sees a heavy import


@pytest.mark.slow
def test_the_bento_service_loads_no_training_or_orchestration_library(trained):
    """bento/service.py itself, started on the session's trained model (it loads the model at import)."""
    env = {"CHURN_BENTO_MODEL": trained["bento"]["model_tag"]}
    assert _heavy_loaded("bento.service", env=env) == set()
