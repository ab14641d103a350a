"""No import cycles between the project's modules (churn_assets, bento, bench), module-level or inside
functions, and the layering the architecture relies on. Read with ast: nothing is imported."""

from churn_assets_tests.import_graph import cycles, graph, modules

G = graph()

# bento/ is the serving engineer's (issue 15: service.py <-> grpc_server.py, a function-level import
# inside the gRPC start-up hook). Listed so the test stays green on this branch and fails when the
# cycle is gone, telling the integrator to delete the entry. TODO issue 15: empty this set.
KNOWN_BENTO_CYCLES: set[tuple[str, ...]] = set()  # the service <-> grpc_server cycle is gone


def test_the_graph_is_read():
    assert len(G) > 80
    assert G["churn_assets.defs.common.resources"]["churn_assets.model.settings"] == "module"
    assert G["churn_assets.sim.loop"]["churn_assets.local.runs"] == "module"
    assert G["churn_assets.sim.demo"]["churn_assets.sim.loop"] == "function"  # import inside a function is seen


def test_no_module_level_import_cycle():
    assert cycles(G, ("module",)) == []


def test_no_import_cycle_even_inside_functions():
    found = {tuple(c) for c in cycles(G)}
    assert not found - KNOWN_BENTO_CYCLES, f"import cycles: {sorted(found - KNOWN_BENTO_CYCLES)}"
    assert not KNOWN_BENTO_CYCLES - found, f"fixed: remove {sorted(KNOWN_BENTO_CYCLES - found)} from KNOWN_BENTO_CYCLES"


# The floors, lowest first. A module imports only its own floor and the floors below it.
#   model      the serving kernel: what the Bento imports (bento/bentofile.yaml ships it and bento/)
#   core       domain logic in rooms (data, training, evaluation, registry, scoring, monitoring, privacy,
#              experiment); no Dagster
#   defs       the Dagster code location, by domain; definitions.py loads it
#   local/sim  running on this machine: the embedded instance, in-process runs, the demo, the loop simulator
#   cli        the command line
FLOORS = {"churn_assets.model": 0, "churn_assets.core": 1, "churn_assets.defs": 2, "churn_assets.definitions": 2,
          "churn_assets.local": 3, "churn_assets.sim": 4, "churn_assets.cli": 5}
CORE_ROOMS = {"data", "training", "evaluation", "registry", "scoring", "monitoring", "experiment", "retention", "privacy"}


def _floor(module: str) -> int | None:
    return next((f for prefix, f in FLOORS.items() if module == prefix or module.startswith(prefix + ".")), None)


def test_every_module_has_a_floor_and_core_is_rooms():
    loose = [m for m in G if m.startswith("churn_assets.") and _floor(m) is None]
    assert not loose, f"a module outside the floors: {loose}"
    rooms = {m.split(".")[2] for m in G if m.startswith("churn_assets.core.")}
    assert rooms == CORE_ROOMS, rooms
    flat = [m for m in G if m.startswith("churn_assets.core.") and m.count(".") == 2 and m.split(".")[2] not in CORE_ROOMS]
    assert not flat, f"core/ holds rooms only: {flat}"


def test_layers():
    up = {(m, t) for m, e in G.items() for t in e
          if _floor(m) is not None and _floor(t) is not None and _floor(t) > _floor(m)}
    assert not up, f"an import runs back up a floor: {sorted(up)}"
    kernel_out = {(m, t) for m, e in G.items() if m.startswith("churn_assets.model") for t in e
                  if not t.startswith("churn_assets.model")}
    assert not kernel_out, f"churn_assets/model ships in the Bento and imports only itself: {sorted(kernel_out)}"
    bento_in = {(m, t) for m, e in G.items() if m.startswith("bento") for t in e
                if t.startswith("churn_assets") and not t.startswith("churn_assets.model") and t != "churn_assets"}
    assert not bento_in, f"bento/ imports only the serving kernel: {sorted(bento_in)}"
    up = {(m, t) for m, e in G.items() if m.startswith("churn_assets") for t in e if t.startswith("bench")}
    assert not up, f"the package must not import the benchmarks: {sorted(up)}"
    across = set()
    for m, e in G.items():
        parts = m.split(".")
        if m.startswith("churn_assets.defs.") and len(parts) > 3 and parts[2] != "common":
            across |= {(m, t) for t in e if t.startswith("churn_assets.defs.")
                       and t.split(".")[2] not in (parts[2], "common", "jobs")}
    assert not across, f"a domain imports only itself, defs/common and defs/jobs: {sorted(across)}"


def test_a_cycle_is_caught(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    g = graph(modules(tmp_path, ["pkg"]))
    assert g["pkg.a"] == {"pkg.sub.b": "module"} and g["pkg.sub.b"] == {"pkg.a": "function"} and g["pkg.c"] == {}
    assert cycles(g) == [["pkg.a", "pkg.sub.b"]]
    assert cycles(g, ("module",)) == []


def test_the_wheel_imports_only_what_it_ships():
    import tomllib

    from churn_assets_tests.import_graph import ROOT

    shipped = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
                  ["packages"])
    assert "churn_assets" in shipped
    outside = {(m, t) for m, e in G.items() if m.split(".")[0] in shipped for t in e if t.split(".")[0] not in shipped}
    assert not outside, f"the wheel would import modules it does not ship: {sorted(outside)}"
