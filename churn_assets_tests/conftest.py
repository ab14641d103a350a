"""Shared fixtures. The whole session runs against throwaway local state under a temp CHURN_HOME,
so tests never touch the developer's .churn/ folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from churn_assets.local.signals import stop_on_sigterm
from churn_assets.model.settings import Settings

# CI starts the suite as a background job (SIGINT ignored): without this, every in-process Dagster run
# leaves SIGTERM ignored in the test worker, and every server a later test starts inherits that (its
# stop then waits out the grace and SIGKILLs).
stop_on_sigterm()

SESSION_HOME = Path(tempfile.mkdtemp(prefix="churn_test_"))
# Tests own their process environment: every setting starts from its default under a temp CHURN_HOME.
from churn_assets.model.settings import known_variables

for _key in known_variables():
    os.environ.pop(_key, None)
os.environ["CHURN_HOME"] = str(SESSION_HOME)
os.environ["DAGSTER_HOME"] = str(SESSION_HOME / "dagster_home")
os.environ["BENTOML_HOME"] = str(SESSION_HOME / "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
(SESSION_HOME / "dagster_home").mkdir()

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BANK_CSV = SHARED_DATA / "bank_churn.csv"
PG_URL = os.environ.get("CHURN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


# Test tiers (markers registered in pyproject.toml) are declared where the test is: `pytestmark` at
# the top of a module, or a decorator on one test. A test that uses a heavy part without declaring
# its tier fails collection, so a new test cannot slip into `make test-fast` by default.
TIERS = ("slow", "integration", "faults", "container")
# Fixture -> the tiers a test that uses it (directly or through another fixture) may declare.
HEAVY_FIXTURES = {
    # a trained model (a real training run through Dagster)
    "trained": ("slow", "integration", "container"), "loop": ("slow", "integration"),
    "models": ("slow", "integration"), "shop": ("slow", "integration"), "world": ("slow", "integration"),
    "home": ("slow", "integration"), "bento_tag": ("slow", "integration", "container"),
    # a server (Bento, webhook receiver, MLflow, PostgreSQL) or a database
    "served": ("integration",), "edge": ("integration",), "ab": ("integration",), "shadow": ("integration",),
    "webhook": ("integration",), "production": ("integration",), "scratch_pg_database": ("integration",),
    "server": ("faults",), "cluster": ("faults",),
    # a Docker engine
    "engine": ("container",), "image": ("container",), "container": ("container",),
}
# Calls in a test's own body that make it heavy.
HEAVY_CALLS = {"run_training": ("slow", "integration", "faults"), "train": ("slow", "integration", "faults"),
               "bento_on_loopback": ("integration",), "ThrowawayPostgres": ("integration", "faults")}


def _calls(fn) -> set[str]:
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return set()
    return {c.func.id if isinstance(c.func, ast.Name) else c.func.attr
            for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, (ast.Name, ast.Attribute))}


def undeclared_tier(item) -> str | None:
    """Why ``item`` needs a tier marker it does not have, or None."""
    declared = {m.name for m in item.iter_markers() if m.name in TIERS}
    needs = [(f"fixture {f!r}", tiers) for f, tiers in HEAVY_FIXTURES.items() if f in getattr(item, "fixturenames", ())]
    calls = _calls(getattr(item, "function", None))
    needs += [(f"call {c}()", tiers) for c, tiers in HEAVY_CALLS.items() if c in calls]
    missing = [f"{what} needs one of {'/'.join(tiers)}" for what, tiers in needs if not declared & set(tiers)]
    return "; ".join(missing) or None


# The modules that take longest (minutes, measured in CI; most of it waiting on daemons, servers,
# outages, image builds and run subprocesses; the fault and container tiers run in the same pool) are handed to the xdist
# workers first: longest first, the short ones fill the end, so no worker starts a 10-minute module
# when the others are nearly done.
LONGEST_FIRST = ("test_loop_on_user_data.py", "test_fault_mlflow.py", "test_production_postgres.py",
                 "test_fault_postgres.py", "test_learning_loop.py", "test_daemon.py", "test_demo.py",
                 "test_fault_resume.py", "test_container.py", "test_personal_data.py", "test_memory.py",
                 "test_serving_ab.py", "test_monitoring.py", "test_serving.py", "test_distributed_tuning.py",
                 "test_ui_browser.py", "test_serving_edge.py", "test_bring_your_own_data.py")


def pytest_collection_modifyitems(config, items):
    errors = [f"{item.nodeid}: {why}" for item in items if (why := undeclared_tier(item))]
    if errors:
        raise pytest.UsageError("tests without their tier (declare `pytestmark = pytest.mark.<tier>` in the module or "
                                "decorate the test; see conftest.py HEAVY_FIXTURES):\n  " + "\n  ".join(errors))
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_HOME, ignore_errors=True)


@contextlib.contextmanager
def _mlflow_uris_kept():
    import mlflow

    env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    yield
    # No explicit URI: MLflow resolves from the variables again, which mirror what was set before.
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for k, v in env.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(autouse=True, scope="module")
def _mlflow_uris_stay_per_module():
    """The same guard for a module's fixtures: they are set up before any function fixture, so a
    module fixture that opened an MLflow client would otherwise hand its store to later modules (seen
    in CI: 'no champion of churn-session in .../shop0/mlflow.db' in the retention tests)."""
    with _mlflow_uris_kept():
        yield


@pytest.fixture(autouse=True)
def _mlflow_uris_stay_per_test():
    """core/tracking.client() points MLflow's fluent API at a store with mlflow.set_tracking_uri /
    set_registry_uri, and MLflow writes those into os.environ (MLFLOW_TRACKING_URI, read by our
    Settings). A test that talked to a throwaway store or a closed port would hand it to every later
    module (seen in the full suite: connection refused in the live-drift and A/B serving tests), so
    each test ends with the URIs, and the variables, it started with."""
    with _mlflow_uris_kept():
        yield


def isolated_settings(root: Path, model_name: str | None = None) -> Settings:
    """A settings object whose every store lives under ``root``: fresh MLflow store, Optuna storage,
    predictions table, report and label folders, and a model name of its own. Passed in (``build_defs``,
    ``run_training(settings=...)``, ``reconstructable.job``), never written to the environment."""
    return settings(home=root, mlflow_tracking_uri=f"sqlite:///{root}/mlflow.db",
                    mlflow_artifacts=str(root / "mlartifacts"), optuna_storage=f"sqlite:///{root}/optuna.db",
                    predictions_url=f"sqlite:///{root}/predictions.db", reports_dir=root / "reports",
                    labels_dir=root / "labels", labelled_dir=root / "labelled",
                    model_name=model_name or f"churn-test-{uuid.uuid4().hex[:6]}", dataset="", webhook_url="")


@pytest.fixture
def isolated(tmp_path) -> Settings:
    """One test's own stores (see isolated_settings), as a settings object for the test to pass in."""
    return isolated_settings(tmp_path)


@pytest.fixture
def instance(tmp_path):
    """A real Dagster instance (SQLite storage in a temp DAGSTER_HOME)."""
    import dagster as dg

    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as inst:
        yield inst


def settings(base: Settings | None = None, /, **values) -> Settings:
    """A settings object for a test: ``values`` over ``base`` (e.g. the ``isolated`` fixture's), or,
    without one, over what the environment says (the session's temp CHURN_HOME)."""
    if base is None:
        return Settings(**values)
    return Settings(**{**base.model_dump(), **values})  # validated again, every field explicit


_settings = settings  # for helpers whose `settings` argument hides it


def resources(base: Settings | None = None, /, **values) -> dict:
    """Every resource of the code location, built from ``settings(base, **values)``."""
    from churn_assets.defs.common.resources import build_resources
    from churn_assets.model.settings import ServingSettings

    s = settings(base, **values)
    return build_resources(s, ServingSettings(home=s.home))


def run_training(instance, rows: int = 3000, trials: int = 5, extra_config: dict | None = None,
                 job: str = "churn_training", raise_on_error: bool = True, selection=None,
                 settings: Settings | None = None):
    """Materialize the training job in-process on a small synthetic data set (``rows`` customers), the
    code location built from ``settings`` (default: the environment's)."""

    from churn_assets.definitions import build_defs

    cfg = {"n_trials": trials, **(extra_config or {})}
    d = build_defs(_settings(settings, synthetic_rows=rows))
    job_def = d.resolve_job_def(job)
    return job_def.execute_in_process(instance=instance, raise_on_error=raise_on_error,
                                      run_config={"ops": {"tuned_model": {"config": cfg}}},
                                      asset_selection=selection)


def env_for(s: Settings, *fields: str) -> dict[str, str]:
    """The variables that hand ``fields`` of ``s`` to a process a test starts (for its ``env=``)."""
    from churn_assets.model.settings import env_names

    names = env_names(Settings)
    return {names[f]: str(getattr(s, f)) for f in fields}


@contextlib.contextmanager
def scoped_env(values: dict[str, str], unset: tuple[str, ...] = ()):
    """Module fixtures own a slice of the process environment: set, and always restored (also when
    the set-up fails, so one broken fixture cannot leak its settings into later modules)."""
    saved = {k: os.environ.get(k) for k in [*values, *unset]}
    for k in unset:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def materialized(result, node: str) -> dict:
    """The metadata values of a step's (last) materialization: how tests read assets whose storage is
    external (MaterializeResult, e.g. churn_bento, churn_predictions)."""
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[-1].metadata.items()}


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One small end-to-end training run shared by many tests (serving, registry, parity)."""
    import dagster as dg

    home = tmp_path_factory.mktemp("trained")
    os.environ["CHURN_MODEL_NAME"] = "churn-session"
    # Every store named explicitly (the session's CHURN_HOME), so no variable a module left behind can
    # point a test that builds on the champion at another store: tests derive from trained["settings"].
    s = settings(home=SESSION_HOME, model_name="churn-session",
                 mlflow_tracking_uri=f"sqlite:///{SESSION_HOME}/mlflow.db")
    (home / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(home / "dagster_home")) as inst:
        result = run_training(inst, rows=4000, trials=6, settings=s)
        assert result.success
        yield {"result": result, "instance": inst, "home": home, "settings": s,
               "tracking_uri": s.mlflow_tracking_uri,
               "tuned": result.output_for_node("tuned_model"),
               "splits": result.output_for_node("training_splits"),
               "evaluation": result.output_for_node("model_evaluation"),
               "registered": result.output_for_node("registered_model"),
               "bento": materialized(result, "churn_bento")}  # bento_tag, model_tag, ...: metadata
