"""The production deployment files, checked offline: docker-compose.yml against the Compose
Specification schema, the Kubernetes manifests against the Kubernetes OpenAPI schemas
(kubernetes-validate), deploy/dagster/dagster.yaml as a real Dagster instance on the local
PostgreSQL, the Helm values' structure, the Dockerfile, and that no password is committed.
Nothing here needs Docker or a cluster (there is none on this machine)."""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_ENV = DEPLOY / "compose.env"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
DAGSTER_YAML = DEPLOY / "dagster" / "dagster.yaml"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
HELM_CONFIGMAP = DEPLOY / "helm" / "churn-config.yaml"
HELM_PVC = DEPLOY / "helm" / "churn-home-pvc.yaml"
BENTO_K8S = DEPLOY / "k8s" / "bento"
DEPLOYMENT_DOC = ROOT / "docs" / "DEPLOYMENT.md"

SERVICES = {"postgres", "mlflow", "dagster-code", "dagster-webserver", "dagster-daemon", "churn-bento"}
DAGSTER_SERVICES = ("dagster-code", "dagster-webserver", "dagster-daemon")
K8S_VERSION = "1.30.0"  # kubernetes-validate 1.37 ships schemas for 1.25 ... 1.37
PG_URL = os.environ.get("CHURN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as docker compose reads an env_file (no quoting or comments on a line)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        out[key.strip()] = value
    return out


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE_FILE)


# ---------------------------------------------------------------------------------------------
# No committed secrets
# ---------------------------------------------------------------------------------------------

INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")
PASSWORD_KEY = re.compile(r"(password|passwd|pwd)$", re.IGNORECASE)
# user:secret@ inside a URL; the secret must be an interpolation, e.g. postgres:${POSTGRES_PASSWORD}@
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:([^@\s]+)@")
TEXT_PASSWORD = re.compile(r"(?i)\b[\w.-]*(password|passwd)[\w.-]*\s*[:=]\s*([^\s#]+)")


def _is_reference(value) -> bool:
    """An allowed password value: empty, a ${VAR} interpolation or Dagster's {env: VAR}."""
    if value is None or value == "":
        return True
    if isinstance(value, dict):
        return set(value) == {"env"}
    return isinstance(value, str) and bool(INTERPOLATION.match(value.strip()))


def _url_leaks(text: str) -> list[str]:
    return [m.group(0) for m in URL_CREDENTIALS.finditer(text) if not m.group(1).startswith("${")]


def _yaml_leaks(node, path: str = "") -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if PASSWORD_KEY.search(str(key)) and not _is_reference(value):
                found.append(f"{where}={value!r}")
            found += _yaml_leaks(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _yaml_leaks(value, f"{path}[{i}]")
    elif isinstance(node, str):
        found += [f"{path}: {u}" for u in _url_leaks(node)]
    return found


def _text_leaks(text: str) -> list[str]:
    found = _url_leaks(text)
    for line in text.splitlines():
        if line.lstrip().startswith(("#", "--")):
            continue
        for m in TEXT_PASSWORD.finditer(line):
            value = m.group(2).strip("'\",")
            if value and not value.startswith(("${", "{env")):
                found.append(line.strip())
    return found


def secret_leaks(path: Path) -> list[str]:
    text = path.read_text()
    if path.suffix in {".yml", ".yaml"}:
        leaks = []
        for doc in yaml.safe_load_all(text):
            leaks += _yaml_leaks(doc)
        return leaks
    return _text_leaks(text)


def committed_deploy_files() -> list[Path]:
    return [COMPOSE_FILE, ENV_EXAMPLE] + sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def test_the_secret_scanner_catches_literals():
    """Guard against a vacuous scan: planted literals are found, references are not."""
    assert _yaml_leaks({"postgres_db": {"password": "hunter2"}})
    assert _yaml_leaks({"env": {"POSTGRES_PASSWORD": "hunter2"}})
    assert _yaml_leaks({"x": "postgresql+psycopg://postgres:hunter2@postgres:5432/optuna"})
    assert _text_leaks("DAGSTER_PG_PASSWORD=hunter2")
    assert not _yaml_leaks({"password": {"env": "DAGSTER_PG_PASSWORD"},
                            "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?set it}",
                            "url": "postgresql+psycopg://postgres:${POSTGRES_PASSWORD}@postgres:5432/x"})
    assert not _text_leaks("POSTGRES_PASSWORD=\n# password: hunter2 in a comment")


@pytest.mark.parametrize("path", committed_deploy_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_literal_password_is_committed(path):
    assert secret_leaks(path) == []


def test_env_example_leaves_the_password_blank():
    values = parse_env_file(ENV_EXAMPLE)
    assert values.get("POSTGRES_PASSWORD") == ""


# ---------------------------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------------------------

def compose_schema() -> dict:
    ref = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(ref.read_text())


def test_compose_file_matches_the_compose_spec_schema(compose):
    import jsonschema

    schema = compose_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_file_passes_check_jsonschema_cli():
    cli = Path(sys.executable).parent / "check-jsonschema"
    if not cli.exists():
        pytest.skip("check-jsonschema CLI not next to this interpreter")
    proc = subprocess.run([str(cli), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_services_health_checks_and_startup_order(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    for name, svc in services.items():
        test = (svc.get("healthcheck") or {}).get("test")
        assert test and not svc["healthcheck"].get("disable"), f"{name} has no health check"
        assert svc.get("restart") in {"always", "unless-stopped", "on-failure"}, name
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec.get("condition") == "service_healthy", f"{name} -> {dep}"
    for name in DAGSTER_SERVICES:
        assert "postgres" in services[name]["depends_on"]
        assert "deploy/compose.env" in services[name]["env_file"]
    assert "mlflow" in services["dagster-code"]["depends_on"]
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_commands_ports_and_volumes(compose):
    s = compose["services"]
    assert s["postgres"]["image"].startswith("postgres:15")
    assert any("init.sql" in v and "docker-entrypoint-initdb.d" in v for v in s["postgres"]["volumes"])
    mlflow_cmd = s["mlflow"]["command"]
    for flag in ("--artifacts-destination", "--serve-artifacts", "--allowed-hosts"):
        assert flag in mlflow_cmd
    assert s["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://")
    assert s["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert "/health" in " ".join(s["mlflow"]["healthcheck"]["test"])
    assert s["dagster-webserver"]["command"][:1] == ["dagster-webserver"]
    assert "/opt/dagster/deploy/workspace.yaml" in s["dagster-webserver"]["command"]
    assert s["dagster-daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert "/opt/dagster/deploy/workspace.yaml" in s["dagster-daemon"]["command"]
    assert "grpc-health-check" in s["dagster-code"]["healthcheck"]["test"]
    # the unauthenticated UIs are published on the host's loopback only
    assert s["dagster-webserver"]["ports"] == ["127.0.0.1:3000:3000"]
    assert s["mlflow"]["ports"] == ["127.0.0.1:5000:5000"]
    assert {"3001:3000", "50051:50051"} <= {p.split()[0] for p in s["churn-bento"]["ports"]}
    assert "/readyz" in " ".join(s["churn-bento"]["healthcheck"]["test"])
    assert s["churn-bento"]["environment"]["OMP_NUM_THREADS"] == "1"
    named = set(compose["volumes"])
    for name, svc in s.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in named, f"{name}: volume {source} is not declared"
    init_sql = (DEPLOY / "postgres" / "init.sql").read_text()
    for db in ("dagster", "mlflow", "optuna", "churn"):
        assert re.search(rf"CREATE DATABASE {db}\b", init_sql)


def test_every_interpolated_variable_is_documented_or_defaulted():
    text = "\n".join(line for line in COMPOSE_FILE.read_text().splitlines()
                     if not line.lstrip().startswith("#")).replace("$$", "")
    # (optional settings shown commented out in .env.example must have a default in the file)
    documented = set(parse_env_file(ENV_EXAMPLE)) | set(parse_env_file(COMPOSE_ENV))
    refs = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)?", text)
    assert refs, "no ${VAR} found: the pattern is broken"
    bare = re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", re.sub(r"\$\{[^}]*\}", "", text))
    assert not bare, f"use ${{VAR}}, not $VAR: {bare}"
    missing = sorted({name for name, default in refs if not default and name not in documented})
    assert not missing, f"interpolated without default and not in .env.example/compose.env: {missing}"
    assert "POSTGRES_PASSWORD" in parse_env_file(ENV_EXAMPLE)


def dagster_environment(compose: dict, service: str = "dagster-code") -> dict[str, str]:
    env = parse_env_file(ROOT / compose["services"][service]["env_file"][0])
    env.update({k: str(v) for k, v in compose["services"][service]["environment"].items()})
    return env


# Where state lives: the local defaults (SQLite, folders under ./.churn) are wrong in a container, so
# every deployment sets these. Every other setting has a default that holds in production too.
PRODUCTION_REQUIRED = {"MLFLOW_TRACKING_URI", "CHURN_HOME", "CHURN_REPORTS_DIR", "CHURN_LABELS_DIR", "BENTOML_HOME",
                       "CHURN_OPTUNA_STORAGE", "CHURN_PREDICTIONS_URL"}
# Read by Dagster, BentoML, MLflow or Postgres themselves, not by churn_assets.
THIRD_PARTY = {"POSTGRES_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
               "DAGSTER_PG_DB", "BENTOML_DO_NOT_TRACK", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}


def code_env_vars() -> set[str]:
    """Every variable the code location reads: the fields of model/settings.py's Settings (the only reader)."""
    from churn_assets.model.settings import Settings, env_names

    return set(env_names(Settings).values())


def assert_valid_settings(env: dict[str, str], where: str) -> None:
    """Every CHURN_* / settings variable in ``env`` is a known one and parses with its type."""
    from churn_assets.model.settings import ServingSettings, Settings, env_names, known_variables, unknown_variables

    unknown = unknown_variables(env)
    assert not unknown, f"{where}: unknown settings (closest known): {unknown}"
    named = {k: v for k, v in env.items() if k in known_variables()}
    concrete = {k: re.sub(r"\$\{[^}]*\}", "x", v) for k, v in named.items()}  # ${VAR} interpolations
    for cls in (Settings, ServingSettings):
        fields = {f: concrete[var] for f, var in env_names(cls).items() if var in concrete}
        cls(**fields)  # a wrong type raises pydantic's ValidationError naming the field


def test_the_settings_validation_can_fail():
    assert_valid_settings({"CHURN_SEED": "7", "CHURN_GRPC_PORT": "50051", "OTHER": "x"}, "ok")
    with pytest.raises(AssertionError, match="CHURN_DRIFT_SHAR"):
        assert_valid_settings({"CHURN_DRIFT_SHAR": "0.3"}, "typo")
    with pytest.raises(ValueError, match="synthetic_rows"):
        assert_valid_settings({"CHURN_SYNTHETIC_ROWS": "many"}, "type")


def test_dagster_services_configure_every_variable_the_code_reads(compose):
    image_env = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", " ".join(
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#"))))
    for service in DAGSTER_SERVICES:
        env = dagster_environment(compose, service)
        missing = sorted(PRODUCTION_REQUIRED - set(env) - image_env)
        assert not missing, f"{service}: not set in compose.env / environment / image: {missing}"
        assert_valid_settings(env, service)
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        # With a tracking server its artifact store is used; a local root is for SQLite mode only.
        assert env["CHURN_MLFLOW_ARTIFACTS"] == ""
        assert env["CHURN_HOME"] == "/opt/dagster/churn_home"
        assert env["BENTOML_DO_NOT_TRACK"] == "true"
        assert env["CHURN_MODEL_NAME"] == ""  # one registered model per data set
        assert env["DAGSTER_PG_HOST"] in compose["services"], "the Dagster instance's Postgres is a compose service"
        assert env["CHURN_OPTUNA_STORAGE"].endswith("@postgres:5432/optuna")
        assert env["CHURN_PREDICTIONS_URL"].endswith("@postgres:5432/churn")
        assert env["DAGSTER_PG_PASSWORD"].startswith("${POSTGRES_PASSWORD")


# ---------------------------------------------------------------------------------------------
# Dagster instance (deploy/dagster/dagster.yaml) on the local PostgreSQL
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def scratch_pg_database():
    """A fresh database on the test PostgreSQL, dropped afterwards; yields its connection URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    admin = {"host": url.host or "127.0.0.1", "port": url.port or 5432, "user": url.username or "postgres",
             "password": url.password or "", "dbname": url.database or "postgres"}
    try:
        conn = psycopg.connect(**admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {admin['host']}:{admin['port']} does not accept connections: {exc}")
    name = f"churn_deploy_test_{uuid.uuid4().hex[:10]}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield {**admin, "dbname": name}
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.integration
def test_dagster_yaml_is_a_postgres_instance(scratch_pg_database, tmp_path, monkeypatch):
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    db = scratch_pg_database
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_HOST", db["host"])
    monkeypatch.setenv("DAGSTER_PG_PORT", str(db["port"]))  # a string, parsed by Dagster's IntSource
    monkeypatch.setenv("DAGSTER_PG_USER", db["user"])
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", db["password"])
    monkeypatch.setenv("DAGSTER_PG_DB", db["dbname"])

    @dg.asset
    def deploy_probe() -> int:
        return 1

    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert instance.run_monitoring_enabled
        assert not instance.telemetry_enabled
        # Writing events is what a psycopg 3 URL breaks (dagster-postgres' NOTIFY), so write some.
        result = dg.materialize([deploy_probe], instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(dg.AssetKey("deploy_probe")) is not None
        assert len(instance.get_runs()) == 1
    finally:
        instance.dispose()


def test_dagster_workspace_points_at_the_code_server():
    workspace = load_yaml(DEPLOY / "dagster" / "workspace.yaml")
    assert workspace["load_from"] == [
        {"grpc_server": {"host": "dagster-code", "port": 4000, "location_name": "churn_assets"}}]


# ---------------------------------------------------------------------------------------------
# Kubernetes manifests
# ---------------------------------------------------------------------------------------------

def bento_manifests() -> dict[str, dict]:
    kustomization = load_yaml(BENTO_K8S / "kustomization.yaml")
    docs = {}
    for name in kustomization["resources"]:
        for doc in load_yaml_all(BENTO_K8S / name):
            docs[doc["kind"]] = doc
    return docs


def all_k8s_documents() -> list[tuple[str, dict]]:
    kustomization = load_yaml(BENTO_K8S / "kustomization.yaml")
    paths = [BENTO_K8S / name for name in kustomization["resources"]] + [HELM_CONFIGMAP, HELM_PVC]
    return [(f"{p.relative_to(ROOT)}:{d['kind']}", d) for p in paths for d in load_yaml_all(p)]


@pytest.mark.parametrize("name,doc", all_k8s_documents(), ids=[n for n, _ in all_k8s_documents()])
def test_k8s_manifests_validate_strictly(name, doc):
    kv = pytest.importorskip("kubernetes_validate")
    assert kv.validate(doc, K8S_VERSION, strict=True)


def test_k8s_validation_is_not_vacuous():
    kv = pytest.importorskip("kubernetes_validate")
    bad = bento_manifests()["Deployment"]
    bad = json.loads(json.dumps(bad))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S_VERSION, strict=True)


def test_bento_deployment_probes_ports_and_resources():
    docs = bento_manifests()
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    pod = docs["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}  # valueFrom entries (Secrets) have no value
    from churn_assets.model.settings import ServingSettings

    # the gRPC port the container declares is the one the service binds (its env, else the default);
    # 3000 is `bentoml serve`'s own default HTTP port
    assert ports == {"http": 3000, "grpc": int(env.get("CHURN_GRPC_PORT", ServingSettings().grpc_port))}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["port"] == "http"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OMP_NUM_THREADS"] == "1" and env["BENTOML_DO_NOT_TRACK"] == "true"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "replicas" not in docs["Deployment"]["spec"], "the HPA owns the replica count"
    # selectors of the Service and the PDB select the pods
    labels = pod["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        spec = docs[kind]["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert selector.items() <= labels.items(), kind
    assert docs["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # a node drain may evict a pod only if the HPA's floor keeps more pods than the PDB guarantees
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert 1 <= docs["PodDisruptionBudget"]["spec"]["minAvailable"] < hpa["minReplicas"] <= hpa["maxReplicas"]


def _under(path: str, mounts) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def test_bento_image_runs_read_only_the_same_way_in_compose_and_k8s(compose):
    """The image (bento/Dockerfile.template) writes only below BENTOML_HOME and TMPDIR; compose and
    the Deployment both give it a read-only root with exactly those paths writable, the image's
    non-root uid, and the same grace period for a SIGTERM drain."""
    from bentoml._internal.container.generate import DEFAULT_BENTO_ENVS

    template = (ROOT / "bento" / "Dockerfile.template").read_text()
    writable = dict(re.findall(r"\b(BENTOML_HOME|TMPDIR)=(\S+)", template))
    assert set(writable) == {"BENTOML_HOME", "TMPDIR"}, template
    assert not _under(writable["BENTOML_HOME"], [DEFAULT_BENTO_ENVS["path"]]), "the Bento must stay read-only"

    pod = bento_manifests()["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert all("emptyDir" in volumes[name] for name in mounts.values())
    for path in writable.values():
        assert _under(path, mounts), f"k8s: {path} is not on a writable volume"
    assert pod["securityContext"]["runAsUser"] == DEFAULT_BENTO_ENVS["uid_gid"], "the image's bentoml uid"

    svc = compose["services"]["churn-bento"]
    assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
    tmpfs = [t.split(":")[0] for t in svc["tmpfs"]]
    for path in writable.values():
        assert _under(path, tmpfs), f"compose: {path} is not on a tmpfs"
    assert svc["stop_grace_period"] == f"{pod['terminationGracePeriodSeconds']}s"
    assert "no-new-privileges:true" in svc["security_opt"]
    assert not _under("/home/bentoml/bento", tmpfs) and not _under("/app", tmpfs)


def test_bento_api_keys_come_from_a_secret_and_probes_stay_open(compose):
    """Compose and Kubernetes mount the keys from a secret into the file the Bento reads
    (CHURN_API_KEY_FILE), no key is written in either, and every probe path is an open path
    (a probe that needed a key would take the pods out of service)."""
    from churn_assets.model.settings import ServingSettings, env_names

    names = env_names(ServingSettings)
    open_paths = ServingSettings().open_path_set
    # Kubernetes: the Secret's `keys` entry is mounted read-only where CHURN_API_KEY_FILE points
    pod = bento_manifests()["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    key_file = Path(env[names["api_key_file"]]["value"])
    assert names["api_keys"] not in env, "keys belong in the Secret, not the manifest"
    (volume,) = [v for v in pod["volumes"] if v["name"] == "api-keys"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "api-keys"]
    assert mount["readOnly"] is True and Path(mount["mountPath"]) == key_file.parent
    assert {"key": "keys", "path": key_file.name} in volume["secret"]["items"]
    secret = volume["secret"]["secretName"]
    log_url = env[names["prediction_log_url"]]["valueFrom"]["secretKeyRef"]
    assert log_url["name"] == secret and log_url["key"] == "prediction-log-url"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in open_paths, probe
    # Compose: the churn_api_keys secret (from CHURN_API_KEYS in .env) at /run/secrets/churn_api_keys
    bento = compose["services"]["churn-bento"]
    assert "churn_api_keys" in bento["secrets"]
    assert bento["environment"][names["api_key_file"]] == "/run/secrets/churn_api_keys"
    assert names["api_keys"] not in bento["environment"]
    assert compose["secrets"]["churn_api_keys"] == {"environment": names["api_keys"]}
    assert parse_env_file(ENV_EXAMPLE)[names["api_keys"]] == "", "the example leaves the keys blank"
    assert bento["environment"][names["prediction_log_url"]].endswith("@postgres:5432/churn")
    assert bento["depends_on"]["postgres"]["condition"] == "service_healthy"
    healthcheck = " ".join(bento["healthcheck"]["test"])
    assert any(f"localhost:3000{p}'" in healthcheck for p in open_paths), healthcheck


def test_bento_service_and_hpa():
    docs = bento_manifests()
    service = docs["Service"]["spec"]
    assert service["type"] == "ClusterIP"
    by_port = {p["port"]: p for p in service["ports"]}
    assert set(by_port) == {3000, 50051}
    assert by_port[3000]["targetPort"] == "http"
    assert by_port[50051]["targetPort"] == "grpc" and by_port[50051]["appProtocol"] == "grpc"
    hpa = docs["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", docs["Deployment"]["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    target = metric["resource"]["target"]
    # Utilization is relative to the CPU *request*: it needs one, and a target below 100% of it
    assert target["type"] == "Utilization" and 0 < target["averageUtilization"] < 100
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"]


def test_bento_kustomization_sets_namespace_and_image():
    kustomization = load_yaml(BENTO_K8S / "kustomization.yaml")
    assert kustomization["namespace"] == "churn"
    assert sorted(kustomization["resources"]) == ["deployment.yaml", "hpa.yaml", "pdb.yaml", "service.yaml"]
    (container,) = bento_manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    (image,) = kustomization["images"]
    assert image["name"] == container["image"], "kustomize edit set image needs a matching name"
    assert image["newName"] and image["newTag"]


def test_bento_kustomization_renders():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl (with built-in kustomize) not installed")
    proc = subprocess.run([kubectl, "kustomize", str(BENTO_K8S)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert all(d["metadata"]["namespace"] == "churn" for d in docs)
    kustomization = load_yaml(BENTO_K8S / "kustomization.yaml")
    (image,) = kustomization["images"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{image['newName']}:{image['newTag']}"


# ---------------------------------------------------------------------------------------------
# Helm values for the official dagster/dagster chart (its values.schema.json is not available
# offline, so the structure the chart reads is asserted here)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def helm_values() -> dict:
    values = load_yaml(HELM_VALUES)
    assert isinstance(values, dict)
    return values


def test_helm_values_use_external_postgres_and_a_secret(helm_values):
    pg = helm_values["postgresql"]
    assert pg["enabled"] is False
    for key in ("postgresqlHost", "postgresqlUsername", "postgresqlDatabase"):
        assert isinstance(pg[key], str) and pg[key], key
    assert "postgresqlPassword" not in pg, "the password belongs in the Kubernetes Secret"
    assert pg["postgresqlScheme"] == "postgresql+psycopg2"
    assert helm_values["global"]["postgresqlSecretName"]
    assert helm_values["generatePostgresqlPasswordSecret"] is False
    assert _yaml_leaks(helm_values) == []


def test_helm_values_user_deployment(helm_values):
    uds = helm_values["dagster-user-deployments"]
    assert uds["enabled"] is True
    (deployment,) = [d for d in uds["deployments"] if d["name"] == "churn-assets"]
    assert set(deployment["image"]) >= {"repository", "tag", "pullPolicy"}
    assert isinstance(deployment["image"]["tag"], str), "a numeric-looking tag must be quoted"
    args = deployment["dagsterApiGrpcArgs"]
    assert "churn_assets.definitions" in args and args[args.index("churn_assets.definitions") - 1] == "-m"
    assert deployment["port"] == 4000
    assert {"name": "churn-config"} in deployment["envConfigMaps"]
    assert {"name": "churn-secrets"} in deployment["envSecrets"]
    assert deployment["resources"]["requests"] and deployment["resources"]["limits"]


def test_helm_values_run_launcher_and_daemon(helm_values):
    assert helm_values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = helm_values["runLauncher"]["config"]["k8sRunLauncher"]
    assert {"name": "churn-config"} in launcher["envConfigMaps"]
    assert {"name": "churn-secrets"} in launcher["envSecrets"]
    assert set(launcher["resources"]["requests"]) == {"cpu", "memory"}
    # dagster-k8s reads k8sRunLauncher.securityContext as snake_case only; camelCase goes in runK8sConfig
    assert "securityContext" not in launcher
    coordinator = helm_values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    assert isinstance(coordinator["config"]["queuedRunCoordinator"]["maxConcurrentRuns"], int)
    assert helm_values["dagsterWebserver"]["service"]["port"]
    assert helm_values["telemetry"]["enabled"] is False


def test_helm_values_reference_the_shipped_configmap_and_volume(helm_values):
    configmap = load_yaml(HELM_CONFIGMAP)
    pvc = load_yaml(HELM_PVC)
    assert configmap["metadata"]["name"] == "churn-config"
    launcher = helm_values["runLauncher"]["config"]["k8sRunLauncher"]
    (deployment,) = helm_values["dagster-user-deployments"]["deployments"]
    for holder in (launcher, deployment):
        claims = {v["persistentVolumeClaim"]["claimName"] for v in holder["volumes"]}
        assert claims == {pvc["metadata"]["name"]}
        mounts = {m["mountPath"] for m in holder["volumeMounts"]}
        assert {"/opt/dagster/churn_home", "/opt/dagster/dagster_home/storage"} <= mounts
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    # the ConfigMap carries the same settings as compose.env (values differ where hosts differ)
    assert set(configmap["data"]) == set(parse_env_file(COMPOSE_ENV))
    assert all(isinstance(v, str) for v in configmap["data"].values())
    assert configmap["data"]["CHURN_MLFLOW_ARTIFACTS"] == ""
    missing = sorted(PRODUCTION_REQUIRED - set(configmap["data"]) - {"CHURN_OPTUNA_STORAGE", "CHURN_PREDICTIONS_URL"})
    assert not missing, f"not in churn-config (nor the documented churn-secrets): {missing}"
    assert_valid_settings(configmap["data"], "churn-config")


# ---------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_builds_a_locked_non_root_code_server_image():
    ins = dockerfile_instructions()
    ops = [op for op, _ in ins]
    froms = [arg for op, arg in ins if op == "FROM"]
    assert froms and froms[0].startswith("python:3.11")
    runs = " ".join(arg for op, arg in ins if op == "RUN")
    assert "pip install uv==" in runs
    assert "uv sync --frozen --no-dev --no-install-project" in runs
    assert re.search(r"uv sync --frozen --no-dev(?! --no-install-project)", runs)
    users = [arg for op, arg in ins if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert ops.index("USER") < ops.index("CMD")
    assert "4000" in next(arg for op, arg in ins if op == "EXPOSE").split()
    (healthcheck,) = [arg for op, arg in ins if op == "HEALTHCHECK"]
    assert "grpc-health-check" in healthcheck and "4000" in healthcheck
    (cmd,) = [arg for op, arg in ins if op == "CMD"]
    cmd = json.loads(cmd)
    assert cmd[:3] == ["dagster", "code-server", "start"] and "churn_assets.definitions" in cmd
    env = " ".join(arg for op, arg in ins if op == "ENV")
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in env and ".venv/bin" in env
    assert "dagster.yaml" in runs and "/opt/dagster/deploy" in " ".join(arg for op, arg in ins if op == "COPY")


def test_dockerfile_copies_only_existing_paths_and_ignores_local_state():
    sources = []
    for op, arg in dockerfile_instructions():
        if op == "COPY" and not arg.startswith("--from"):
            sources += [s for s in arg.split()[:-1] if not s.startswith("--")]
    assert {"pyproject.toml", "uv.lock", "README.md", "churn_assets/"} <= set(sources)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for pattern in (".venv", ".churn", ".git", "bench/results", ".env"):
        assert pattern in ignore, pattern
    missing = [s for s in sources if not (ROOT / s).exists()]
    if missing == ["bento/"]:
        pytest.skip("bento/ is not in the tree yet: the image build needs it (COPY bento/)")
    assert not missing, f"COPY sources missing from the repository: {missing}"


# ---------------------------------------------------------------------------------------------
# docs/DEPLOYMENT.md
# ---------------------------------------------------------------------------------------------

def test_deployment_doc_lists_every_variable(compose):
    if not DEPLOYMENT_DOC.exists():
        pytest.fail("docs/DEPLOYMENT.md is missing")
    doc = DEPLOYMENT_DOC.read_text()
    # The production subset: whatever a deployment sets is documented (the README has every setting,
    # generated; test_settings_docs.py checks every name DEPLOYMENT gives exists).
    names = PRODUCTION_REQUIRED | set(dagster_environment(compose)) | {"POSTGRES_PASSWORD"}
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"not documented in docs/DEPLOYMENT.md: {missing}"
    from churn_assets.model.settings import known_variables

    unread = sorted(set(dagster_environment(compose)) - known_variables() - THIRD_PARTY)
    assert not unread, f"compose sets variables nothing reads: {unread}"
