"""Outcomes from the spec's `labels`: a file template, a SQLite table and a Postgres table, each
found by the real outcomes_sensor and joined by labelled_outcomes, then measured by model_performance."""


import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from churn_assets.core.data.synthetic import generate_customers
from churn_assets_tests.conftest import isolated_settings, resources, run_training, settings
from churn_assets_tests.pg import requires_pg, temp_database

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DAY = "2025-08-01"
QUERY = "select customer_id, churn from outcomes where day = :date"


def _customers(n: int, seed: int, as_of: str) -> pd.DataFrame:
    df = generate_customers(n, seed=seed, as_of=pd.Timestamp(as_of).date(), id_prefix=f"S{seed}-")
    return df.assign(churn=df["churn"].astype(int))


def _spec(tmp, labels: str) -> str:
    path = tmp / f"spec-{abs(hash(labels))}.yaml"
    path.write_text(f"name: shop\nsource: {{path: base.csv}}\nid_column: customer_id\ntarget_column: churn\n"
                    f"positive_label: 1\nas_of: 2025-06-30\nscoring: {{path: \"batches/{{date}}.csv\"}}\n{labels}\n")
    return str(path)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A user's data set as files: trained once, one day scored; each test brings its outcomes."""
    from churn_assets.definitions import build_defs

    tmp = tmp_path_factory.mktemp("shop")
    _customers(3000, 1, "2025-06-30").to_csv(tmp / "base.csv", index=False)
    (tmp / "batches").mkdir()
    batch = _customers(800, 2, DAY)
    batch.drop(columns=["churn"]).to_csv(tmp / "batches" / f"{DAY}.csv", index=False)
    s = settings(isolated_settings(tmp), model_name="", dataset=_spec(tmp, ""))  # the spec's own model name
    (tmp / "dh").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp / "dh")) as instance:
        assert run_training(instance, rows=3000, trials=3, settings=s).success
        assert build_defs(s).resolve_job_def("churn_scoring").execute_in_process(instance=instance,
                                                                                 partition_key=DAY).success
        yield {"tmp": tmp, "instance": instance, "settings": s,
               "outcomes": batch[["customer_id", "churn"]].iloc[:600]}


def _label_and_measure(shop, labels_section: str):
    """The real sensor must find the day's outcomes, then the outcomes job joins and measures them."""
    from churn_assets.definitions import build_defs
    from churn_assets.defs.monitoring.sensors import outcomes_sensor

    defs = build_defs(settings(shop["settings"], dataset=_spec(shop["tmp"], labels_section)))
    ctx = dg.build_sensor_context(instance=shop["instance"], resources={"dataset": defs.resources["dataset"]})
    requests = outcomes_sensor()(ctx)
    assert [r.partition_key for r in requests] == [DAY]
    result = defs.resolve_job_def("churn_outcomes").execute_in_process(instance=shop["instance"], partition_key=DAY)
    [mat] = [e.materialization for e in result.get_asset_materialization_events()
             if e.asset_key == dg.AssetKey("labelled_outcomes")]
    return mat.metadata, result.output_for_node("model_performance")


def _no_outcomes_yet(shop, labels_section: str) -> None:
    from churn_assets.defs.monitoring.sensors import outcomes_sensor

    res = resources(shop["settings"], dataset=_spec(shop["tmp"], labels_section))
    ctx = dg.build_sensor_context(instance=shop["instance"], resources={"dataset": res["dataset"]})
    assert isinstance(outcomes_sensor()(ctx), dg.SkipReason)


def _check(meta, perf, shop):
    assert meta["dagster/row_count"].value == 600 and meta["awaiting_outcome"].value == 200
    assert meta["churn_rate"].value == pytest.approx(shop["outcomes"]["churn"].mean())
    assert perf["rows"] == 600 and 0.5 < perf["roc_auc"] <= 1.0


def test_labels_from_a_file_template(shop):
    section = "labels: {path: \"outcomes/{date}.csv\"}"
    _no_outcomes_yet(shop, section)
    (shop["tmp"] / "outcomes").mkdir(exist_ok=True)
    shop["outcomes"].to_csv(shop["tmp"] / "outcomes" / f"{DAY}.csv", index=False)
    _check(*_label_and_measure(shop, section), shop)


def _table(url: str, frame: pd.DataFrame | None) -> None:
    """The outcomes table: empty first (nothing arrived), then with the day's outcomes."""
    engine = sa.create_engine(url)
    try:
        rows = frame.assign(day=DAY) if frame is not None else pd.DataFrame(columns=["customer_id", "churn", "day"])
        rows.to_sql("outcomes", engine, if_exists="replace", index=False)
    finally:
        engine.dispose()


def test_labels_from_a_sqlite_table(shop):
    url = f"sqlite:///{shop['tmp']}/warehouse.db"
    section = f"labels: {{url: '{url}', query: '{QUERY}'}}"
    _table(url, None)
    _no_outcomes_yet(shop, section)
    _table(url, shop["outcomes"])
    _check(*_label_and_measure(shop, section), shop)


@requires_pg
def test_labels_from_a_postgres_table(shop):
    with temp_database("churn_outcomes") as url:
        section = f"labels: {{url: '{url}', query: '{QUERY}'}}"
        _table(url, None)
        _no_outcomes_yet(shop, section)
        _table(url, shop["outcomes"])
        _check(*_label_and_measure(shop, section), shop)
