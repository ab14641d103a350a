"""The variable tables in docs/OPERATIONS.md (generated) and docs/DEPLOYMENT.md agree with the settings classes, and a typo in a
CHURN_* name is reported with the closest real one."""

import logging
import re

import pytest

from churn_assets.local import settings_docs
from churn_assets.model.settings import PROJECT_ROOT, Settings, known_variables, settings_table, warn_unknown

# Variables DEPLOYMENT.md documents that are read by other programs, not by churn_assets.
THIRD_PARTY = {"POSTGRES_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
               "DAGSTER_PG_DB", "BENTOML_DO_NOT_TRACK", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
               "MLFLOW_HTTP_REQUEST_MAX_RETRIES"}  # MLflow's own client retries (DEPLOYMENT, "Reliability")


def table_variables(markdown: str, heading: str) -> list[str]:
    """The first-column variable names of the first table under ``heading``."""
    section = markdown.split(heading, 1)[1]
    rows = re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|", section.split("\n## ", 1)[0], flags=re.MULTILINE)
    assert rows, f"no variable table under {heading!r}"
    return rows


def test_operations_table_is_generated_from_the_settings_classes():
    assert settings_docs.TARGET == PROJECT_ROOT / "docs" / "OPERATIONS.md"
    text = settings_docs.TARGET.read_text()
    assert settings_docs.render(text) == text, "docs/OPERATIONS.md settings table is stale: run `make settings-docs`"
    assert sorted(table_variables(text, "## Environment variables")) == sorted(known_variables())


def test_the_readme_no_longer_holds_the_table():
    # one generated copy: the README links to it instead of repeating it
    assert settings_docs.START not in (PROJECT_ROOT / "README.md").read_text()
    assert settings_docs.main(["--check"]) == 0  # the default path is docs/OPERATIONS.md


def test_settings_docs_check_mode_catches_a_stale_table(tmp_path, capsys):
    readme = tmp_path / "OPERATIONS.md"
    readme.write_text(f"# x\n{settings_docs.START}\n| `CHURN_GONE` | str | | removed |\n{settings_docs.END}\ntail\n")
    assert settings_docs.main(["--check", "--path", str(readme)]) == 1
    assert "stale" in capsys.readouterr().err
    assert settings_docs.main(["--path", str(readme)]) == 0
    text = readme.read_text()
    assert "CHURN_GONE" not in text and "`CHURN_MIN_ROC_AUC`" in text and text.endswith("tail\n")
    assert settings_docs.main(["--check", "--path", str(readme)]) == 0
    with pytest.raises(ValueError, match="settings:start"):
        settings_docs.render("no markers here")


def test_every_variable_deployment_names_exists():
    text = (PROJECT_ROOT / "docs" / "DEPLOYMENT.md").read_text()
    names = table_variables(text, "## Environment variables")
    unknown = sorted(set(names) - known_variables() - THIRD_PARTY)
    assert not unknown, f"docs/DEPLOYMENT.md documents variables no settings class reads: {unknown}"
    # the production subset must at least cover where state lives and the registry
    assert {"MLFLOW_TRACKING_URI", "CHURN_OPTUNA_STORAGE", "CHURN_PREDICTIONS_URL", "DAGSTER_HOME"} <= set(names)


def test_every_field_is_documented_with_a_description():
    table = settings_table()
    for line in table.splitlines()[2:]:
        description = line.rstrip(" |").rsplit("|", 1)[-1].strip()
        assert description and description != "None", f"setting without a description: {line}"


def test_warn_unknown_names_the_closest_variable(caplog):
    with caplog.at_level(logging.WARNING, logger="churn_assets.config"):
        out = warn_unknown({"CHURN_DRIFT_SHAR": "0.1", "CHURN_ZZZ_QQQ": "1", "CHURN_SEED": "1",
                            "CHURN_TEST_PG_URL": "x", "PATH": "/bin"})
    assert out == ["unknown setting CHURN_DRIFT_SHAR is ignored; did you mean CHURN_DRIFT_SHARE?",
                   "unknown setting CHURN_ZZZ_QQQ is ignored"]
    assert "did you mean CHURN_DRIFT_SHARE?" in caplog.text
    assert warn_unknown({"CHURN_MIN_ROC_AUC": "0.7", "MLFLOW_TRACKING_URI": "x"}) == []


def test_a_misspelt_variable_does_not_change_the_setting(monkeypatch):
    monkeypatch.setenv("CHURN_DRIFT_SHAR", "0.9")
    monkeypatch.setenv("CHURN_MIN_ROC_AUC", "0.75")
    s = Settings()
    assert s.drift_share == Settings.model_fields["drift_share"].default
    assert s.min_roc_auc == 0.75
