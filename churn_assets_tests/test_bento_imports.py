"""bento/ has no import cycle (service <-> grpc_server was one), and the tests do not import bench/."""

import ast
from pathlib import Path

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
