"""The import graph of the project's own packages, read with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("churn_assets", "bento", "bench")


def modules(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, in_function: bool = False):
    """(imported name candidates, level, in_function) for each import statement, outside TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from _imports(ast.Module(body=node.orelse, type_ignores=[]), in_function)
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield [a.name], 0, None, in_function
        elif isinstance(node, ast.ImportFrom):
            yield [node.module or ""], node.level, [a.name for a in node.names], in_function
        yield from _imports(node, in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                   ast.Lambda)))


def _resolve(module: str, is_pkg: bool, name: str, level: int) -> str:
    if not level:
        return name
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, name] if name else base)


def graph(mods: dict[str, Path] | None = None) -> dict[str, dict[str, str]]:
    """module -> {imported internal module: "module" | "function"} (module-level wins)."""
    mods = mods or modules()
    out: dict[str, dict[str, str]] = {}
    for mod, path in mods.items():
        edges: dict[str, str] = {}
        for names, level, froms, in_function in _imports(ast.parse(path.read_text(), str(path))):
            target = _resolve(mod, path.name == "__init__.py", names[0], level)
            candidates = [f"{target}.{f}" for f in froms or []] if froms else []
            hits = [c for c in candidates if c in mods] or ([target] if target in mods else [])
            if not hits and target not in mods:  # `import a.b.c` of a module we own, or a name in a package
                parts = target.split(".")
                hits = next(([".".join(parts[:i])] for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in mods),
                            [])
            for h in hits:
                if h != mod and edges.get(h) != "module":
                    edges[h] = "function" if in_function else "module"
        out[mod] = edges
    return out


def cycles(g: dict[str, dict[str, str]], kinds: tuple[str, ...] = ("module", "function")) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w, kind in g.get(v, {}).items():
            if kind not in kinds:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(out)
