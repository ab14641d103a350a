"""What README.md and docs/*.md name exists: files, CHURN_* variables, Python names, make targets,
in-repo links and their #anchors. Fast: it reads files (and imports the few churn_assets modules the
docs name)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from churn_assets.model.settings import PROJECT_ROOT, known_variables

ROOT = PROJECT_ROOT
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

# CHURN_* names the docs may use that are not settings of churn_assets/model/settings.py, and why.
NOT_SETTINGS = {
    "CHURN_CODE_IMAGE": "image name read by docker-compose.yml only (Compose-only, DEPLOYMENT.md)",
    "CHURN_BENTO_IMAGE": "image name read by docker-compose.yml only (Compose-only, DEPLOYMENT.md)",
    "CHURN_DRIFT_SHAR": "the misspelt name in the example of the unknown-variable warning",
}
# Paths the docs name that are produced, not committed, and why.
GENERATED = {
    "docs/img/asset-graph.png": "screenshot written by the browser test",
    "docs/img/evaluation.png": "screenshot written by the browser test",
}
GENERATED_PREFIXES = {
    "bench/results/": "benchmark JSON written by `make bench*` (git-ignored); HISTORY.md is committed",
}

# First path segments that make a token a repository path: top-level entries, and the packages of
# churn_assets/ (named relative to it, e.g. `core/scoring/batch.py`).
ROOTS = {"churn_assets", "churn_assets_tests", "bento", "bench", "deploy", "docs", "examples", "scripts", ".ci",
         "core", "defs", "model", "sim", "local"}

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
VARIABLE = re.compile(r"(?<![A-Za-z0-9_])CHURN_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])")
DOTTED = re.compile(r"(?<![\w/.-])churn_assets(?:\.\w+)+")
FROM_IMPORT = re.compile(r"^\s*from\s+(churn_assets[\w.]*)\s+import\s+([\w, ]+)", re.MULTILINE)
MAKE = re.compile(r"(?:^|[\s;&|(`$])make[ \t]+([A-Za-z0-9_.-]+)", re.MULTILINE)
PYTHON_M = re.compile(r"python\s+-m\s+([A-Za-z_][\w.]*)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {t for t in re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.MULTILINE)}


def anchors(markdown: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to '-', repeats get -1, -2..."""
    seen: dict[str, int] = {}
    out = set()
    for title in HEADING.findall(FENCE.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower().replace("`", "")).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def path_like(token: str) -> bool:
    token = token.strip()
    if not token or any(c in token for c in "$<>{}*?:=@ ") or "..." in token or token.startswith(("/", "http")):
        return False
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", token):
        return False
    if "/" in token:
        return token.split("/", 1)[0] in ROOTS
    return re.fullmatch(r"(test_\w+|conftest)\.py", token) is not None  # a test module by its file name


def resolve(token: str) -> Path | None:
    """The repository file or folder ``token`` names, or None."""
    candidates = [ROOT / token, ROOT / "churn_assets" / token]
    if "/" not in token:
        candidates.append(ROOT / "churn_assets_tests" / token)
    return next((c for c in candidates if c.exists()), None)


def generated(token: str) -> bool:
    return token in GENERATED or (token.startswith(tuple(GENERATED_PREFIXES)) and not token.endswith(".md")
                                  and token not in GENERATED_PREFIXES)


def check_path(token: str) -> str | None:
    token, _, test_name = token.partition("::")
    token = token.rstrip(".,;")
    if generated(token):
        return None
    found = resolve(token)
    if found is None:
        return f"`{token}`: no such file or folder (looked from the repository root and churn_assets/)"
    if test_name and not re.search(rf"^\s*(async\s+)?def {re.escape(test_name)}\(", found.read_text(), re.MULTILINE):
        return f"`{token}::{test_name}`: no such test"
    return None


def check_python_name(dotted: str) -> str | None:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name is not None and module_name.startswith(e.name) and e.name.startswith("churn_assets"):
                continue  # that prefix is not a module: try a shorter one, the rest are attributes
            raise
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return f"`{dotted}`: {module_name} has no attribute path {'.'.join(parts[i:])!r}"
            obj = getattr(obj, attr)
        return None
    return f"`{dotted}`: no such module"


def check_module_file(module: str) -> str | None:
    rel = Path(*module.split("."))
    for base in (ROOT, ROOT / "churn_assets"):
        if (base / rel).with_suffix(".py").is_file() or (base / rel / "__init__.py").is_file():
            return None
    return f"`python -m {module}`: no such module in the repository"


def problems(doc: Path, text: str | None = None) -> list[str]:
    """Every reference in the Markdown file ``doc`` (or ``text`` read as it) that does not exist."""
    text = doc.read_text() if text is None else text
    found: list[str] = []
    fenced = "\n".join(m.group(0) for m in FENCE.finditer(text))
    prose = FENCE.sub("", text)
    spans = [m.group(2) for m in INLINE_CODE.finditer(prose)]

    # files named in inline code and in code blocks
    for chunk in [*spans, fenced]:
        for token in re.split(r"[\s,;()\[\]'\"=|]+", chunk):
            if path_like(token.split("::")[0].rstrip(".,;")) and (err := check_path(token)):
                found.append(err)
    # links to files of the repository, and their #anchors
    for target in LINK.findall(INLINE_CODE.sub("", prose)):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if file_part and not path.exists():
            if not generated(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else file_part):
                found.append(f"link ({target}): {file_part} does not exist")
            continue
        if anchor and path.suffix == ".md":
            heads = anchors(text if path == doc else path.read_text())
            if anchor not in heads:
                found.append(f"link ({target}): no heading #{anchor} in {path.name}")
    # variables, Python names, make targets, python -m modules: anywhere, code blocks included
    known = known_variables()
    for name in sorted(set(VARIABLE.findall(text))):
        if name not in known and name not in NOT_SETTINGS:
            found.append(f"`{name}`: not a field of churn_assets/model/settings.py (known_variables())")
    dotted = set(DOTTED.findall(text))
    for module, names in FROM_IMPORT.findall(text):
        dotted |= {f"{module}.{n.strip()}" for n in names.split(",") if n.strip()}
    for name in sorted(dotted):
        if err := check_python_name(name):
            found.append(err)
    targets = makefile_targets()
    for chunk in [*spans, fenced]:
        for target in MAKE.findall(chunk):
            if target not in targets and not target.startswith("-"):
                found.append(f"`make {target}`: no such target in the Makefile")
    for module in sorted(set(PYTHON_M.findall(text))):
        if module.split(".")[0] in {"churn_assets", "bench", "bento"} and (err := check_module_file(module)):
            found.append(err)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_everything_a_doc_names_exists(doc):
    found = problems(doc)
    assert not found, f"{doc.relative_to(ROOT)} names what does not exist:\n" + "\n".join(found)


def test_readme_is_short_and_links_every_doc():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES, f"README.md has {len(text.splitlines())} lines"
    unlinked = [d.name for d in DOCS[1:] if f"docs/{d.name}" not in text]
    assert not unlinked, f"README's 'Read more' does not link {unlinked}"


def test_the_checker_catches_made_up_references():
    made_up = """# Title
See `churn_assets/core/scoring/no_such_module.py`, `core/nowhere.py`, `bento/service.py`,
`test_no_such_test_file.py`, `test_settings_docs.py::test_nope`, [spec](examples/nope.yaml),
[good](docs/ARCHITECTURE.md), [bad anchor](#nope), [ok anchor](#title), `CHURN_NOT_A_SETTING`, `CHURN_SEED`,
`churn_assets.model.settings.no_such_name`, `churn_assets.model.settings.known_variables`,
`churn_assets.nope_module.x`, `application/json`, `dagster/row_count`, `$CHURN_HOME/x.py`.

```bash
CHURN_DATASET=examples/missing_spec.yaml make no-such-target
make test
python -m churn_assets.local.nope
```
"""
    found = "\n".join(problems(README, made_up))
    for bad in ("churn_assets/core/scoring/no_such_module.py", "core/nowhere.py", "test_no_such_test_file.py",
                "test_settings_docs.py::test_nope", "examples/nope.yaml", "#nope", "CHURN_NOT_A_SETTING",
                "churn_assets.model.settings.no_such_name", "churn_assets.nope_module.x", "make no-such-target",
                "churn_assets.local.nope", "examples/missing_spec.yaml"):
        assert bad in found, f"{bad!r} was not caught:\n{found}"
    for good in ("bento/service.py", "docs/ARCHITECTURE.md", "#title", "`CHURN_SEED`", "known_variables`",
                 "make test`", "application/json", "dagster/row_count", "$CHURN_HOME"):
        assert good not in found, f"{good!r} was reported:\n{found}"
