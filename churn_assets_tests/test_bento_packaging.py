"""The Bento is ready for `bentoml containerize`: its generated Dockerfile (obtained without a Docker
engine), its pinned requirements, its archive, and the private BentoML APIs the service relies on."""

import inspect
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import bentoml
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bento_tag(trained):
    return trained["bento"]["bento_tag"]


def test_generated_dockerfile(bento_tag, tmp_path, monkeypatch):
    out = tmp_path / "Dockerfile"
    # bentoml 1.4.40 renders a dockerfile_template only from below the working directory (its temp copy).
    monkeypatch.chdir(tempfile.gettempdir())
    bentoml.container.get_containerfile(bento_tag, output_path=str(out))
    text = out.read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}" in text
    for env in ("ENV OMP_NUM_THREADS=$OMP_NUM_THREADS", "ARG OMP_NUM_THREADS=1", "ARG CHURN_GRPC_PORT=50051",
                "ARG CHURN_GRPC_HOST=0.0.0.0", "ARG BENTOML_DO_NOT_TRACK=true"):
        assert env in text, env
    assert "env/python/install.sh" in text and "EXPOSE 3000" in text and "ENTRYPOINT" in text
    # Lean and safe (bento/Dockerfile.template): no compilers/VCS, uv and test suites removed in the
    # install layer, non-root, BentoML's writable home on /tmp (read-only root), a HEALTHCHECK.
    for heavy in ("build-essential", "git", "gnupg"):
        assert not re.search(rf"apt-get install[^\n]*\b{heavy}\b", text), heavy
    assert "pip uninstall -y -q uv" in text and "-name tests -prune -exec rm -rf" in text
    assert text.rindex("USER bentoml") > text.rindex("RUN ")
    assert "ENV BENTOML_HOME=/tmp/bentoml" in text
    (health,) = re.findall(r"^HEALTHCHECK .*(?:\n .*)*", text, re.MULTILINE)
    assert "/readyz" in health


def test_bento_contents_are_pinned_and_self_contained(bento_tag):
    bento = bentoml.get(bento_tag)
    root = Path(bento.path)
    reqs = (root / "env" / "python" / "requirements.txt").read_text()
    assert "bentoml==1.4.40" in reqs
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in reqs
    # The Bento ships the same feature code the Pipeline was trained with.
    assert (root / "src" / "churn_assets" / "model" / "features.py").read_text() == (
        ROOT / "churn_assets" / "model" / "features.py").read_text()
    # ... and only the serving kernel of the package: no domain rooms, no Dagster code, no demo.
    assert sorted(p.name for p in (root / "src" / "churn_assets").iterdir()) == ["__init__.py", "model"]
    assert (root / "src" / "bento" / "service.py").is_file() and (root / "src" / "bento" / "churn.proto").is_file()
    assert [str(m.tag).split(":")[0] for m in bento.info.all_models] == [os.environ.get("CHURN_MODEL_NAME",
                                                                                       "churn-session")]


def test_export_archive_carries_the_model(bento_tag, tmp_path):
    path = bentoml.export_bento(bento_tag, str(tmp_path / "churn_service.bento"))
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert any("models/" in n and n.endswith("saved_model.pkl") for n in names), names[:20]
    assert any(n.endswith("src/bento/service.py") for n in names)


def test_serving_requirements_match_the_project_lock():
    out = subprocess.run([sys.executable, "-m", "uv", "export", "--only-group", "serving", "--no-hashes",
                          "--no-emit-project", "--frozen"], cwd=ROOT, capture_output=True, text=True, check=True)

    def pins(text):
        return sorted(line for line in text.splitlines() if line and not line.lstrip().startswith("#"))

    assert pins(out.stdout) == pins((ROOT / "bento" / "requirements.lock.txt").read_text()), \
        "bento/requirements.lock.txt is stale: run `make bento-lock`"


def test_grpc_stubs_match_the_proto(tmp_path):
    from grpc_tools import protoc

    (tmp_path / "bento").mkdir()
    (tmp_path / "bento" / "churn.proto").write_text((ROOT / "bento" / "churn.proto").read_text())
    import grpc_tools

    include = str(Path(grpc_tools.__file__).parent / "_proto")
    assert protoc.main(["protoc", f"-I{tmp_path}", f"-I{include}", f"--python_out={tmp_path}",
                        f"--grpc_python_out={tmp_path}", str(tmp_path / "bento" / "churn.proto")]) == 0
    for name in ("churn_pb2.py", "churn_pb2_grpc.py"):
        assert (tmp_path / "bento" / name).read_text() == (ROOT / "bento" / name).read_text(), \
            f"bento/{name} is stale: run `make bento-lock`"


def test_private_bentoml_apis_the_service_relies_on():
    """bento/bentoml_patches.py and bento/grpc_server.py use private BentoML APIs: pinned and guarded
    here (their behaviour: test_bentoml_patches.py)."""
    assert bentoml.__version__ == "1.4.40"
    from _bentoml_impl.server.app import ServiceAppFactory
    from bentoml._internal.marshal.dispatcher import CorkDispatcher
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    assert list(inspect.signature(ServiceAppFactory.batch_infer).parameters) == [
        "self", "name", "input_args", "input_kwargs"]
    assert inspect.iscoroutinefunction(ServiceAppFactory.batch_infer)
    assert hasattr(ServiceAppFactory, "dispatchers") or "dispatchers" in inspect.getsource(ServiceAppFactory)
    assert {"_set_timer_out", "__call__"} <= set(vars(TimeoutMiddleware))
    # batch_caller (the lean routes and gRPC into the batcher) and the lean routes' error answers
    factory_src = inspect.getsource(ServiceAppFactory)
    for name in ("adaptive_batch_size_hist", "self.enable_metrics", "self.enable_access_control",
                 "getattr(self._service_instance, name).local", "AutoContainer.batches_to_batch",
                 "exc.errors(include_context=False, include_input=False)", '"Authorization error"'):
        assert name in factory_src, name
    assert list(inspect.signature(CorkDispatcher.__call__).parameters) == ["self", "callback"]
    assert "self.get_batch_size(" in inspect.getsource(CorkDispatcher)
    src = inspect.getsource(CorkDispatcher)
    assert "self.optimizer" in src and "trigger_refresh" in inspect.getsource(
        sys.modules[CorkDispatcher.__module__])
    from bento import bentoml_patches

    bentoml_patches.patch_timeout_middleware()
    assert TimeoutMiddleware._churn_patched
