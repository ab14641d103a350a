"""A scoring partition in chunks: synthetic chunks, files read in chunks, validation across chunks
to Parquet, chunked scoring equal to the Pipeline, and the bulk, idempotent write."""

import contextlib
import time

import numpy as np
import pandas as pd
import pytest

from churn_assets.core.data import sources
from churn_assets.core.data.batches import BatchSettings, synthetic_batch, synthetic_chunks
from churn_assets.core.data.contract_inference import resolve_contract
from churn_assets.core.data.spec import synthetic_spec
from churn_assets.core.data.synthetic import generate_customers
from churn_assets.core.data.validation import validate
from churn_assets.core.monitoring import outcomes
from churn_assets.core.scoring import predictions_table as predictions
from churn_assets.core.scoring.batch import BatchScorer, _prepared, prefetched, reason_rows, score_partition
from churn_assets.core.scoring.parquet_store import validate_to_parquet
from churn_assets.core.training.modeling import assemble, feature_steps, make_estimator
from churn_assets.model.scorer import risk_band
from churn_assets_tests.pg import requires_pg, temp_database

DAY = "2025-07-03"


@pytest.fixture(scope="module")
def champion():
    spec = synthetic_spec(rows=3000)
    raw = generate_customers(3000, seed=5)
    contract = resolve_contract(spec, raw)
    clean = validate(raw, contract).clean
    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(clean).transform(clean)).transform(builder.transform(clean))
    est = make_estimator("hist_gradient_boosting", {"max_leaf_nodes": 10, "learning_rate": 0.2}, seed=1)
    return contract, assemble(builder, encoder, est.fit(X, clean[contract.target_column]))


def test_one_chunk_is_the_batch_of_before_and_chunks_are_reproducible():
    small = BatchSettings(rows=500, chunk_rows=1000)
    [only] = list(synthetic_chunks(DAY, small))
    assert only.equals(generate_customers(n=500, seed=42 * 100_003 + 739_435, as_of=pd.Timestamp(DAY).date(),
                                          id_prefix="C20250703-", with_labels=False))
    big = BatchSettings(rows=2_500, chunk_rows=1_000)
    chunks = list(synthetic_chunks(DAY, big))
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    whole = synthetic_batch(DAY, big)
    assert whole["customer_id"].is_unique and len(whole) == 2_500
    assert pd.concat(list(synthetic_chunks(DAY, big)), ignore_index=True).equals(whole)
    labels = synthetic_batch(DAY, big, with_labels=True)  # outcomes belong to the same customers
    assert labels["customer_id"].equals(whole["customer_id"])


def test_files_read_in_chunks_equal_the_whole_file(tmp_path, monkeypatch):
    df = generate_customers(2_300, seed=9, with_labels=False).astype({"total_spent": str})
    df["total_spent"] = df["total_spent"].str.replace(".", ",", regex=False)  # decimal commas
    csv, gz, parquet = tmp_path / "b.csv", tmp_path / "b.csv.gz", tmp_path / "b.parquet"
    df.to_csv(csv, sep=";", index=False)
    df.to_csv(gz, sep=";", index=False)
    df.to_parquet(parquet)
    for path in (csv, gz, parquet):
        whole = sources.read_file(str(path))
        monkeypatch.setattr(sources, "WHOLE_FILE_BYTES", 0)  # the streaming CSV path, not read-then-slice
        parts = list(sources.read_file_chunks(str(path), 1_000))
        assert [len(p) for p in parts] == [1000, 1000, 300]
        pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
        monkeypatch.undo()


def _raw_chunks(n=3_000, chunk=1_000):
    raw = generate_customers(n, seed=11, with_labels=False)
    raw.loc[17, "feature_usage_score"] = 250.0  # out of range: quarantined
    raw.loc[2_400, "customer_id"] = raw.loc[300, "customer_id"]  # the same customer in two chunks
    raw.loc[2_401, "customer_id"] = raw.loc[2_402, "customer_id"]  # ... and twice in one chunk
    return raw, [raw.iloc[i:i + chunk] for i in range(0, n, chunk)]


def test_validated_chunks_are_stored_with_every_rejection_counted(tmp_path, champion):
    contract, _ = champion
    raw, chunks = _raw_chunks()
    batch = validate_to_parquet(chunks, contract, tmp_path / "b.parquet", as_of=DAY)
    assert (batch.rows, batch.raw_rows, batch.rejected_rows, batch.chunks) == (2_997, 3_000, 3, 3)
    stored = batch.read()
    assert stored["customer_id"].is_unique and len(stored) == 2_997
    assert raw.loc[2_400, "customer_id"] in set(stored["customer_id"])  # the first one is kept
    rows = {e["_row"] for e in batch.rejected_examples}
    assert {17, 2_400} <= rows and any("earlier chunk" in e["_reason"] for e in batch.rejected_examples)
    assert batch.reasons["duplicate id"] == 2
    whole = validate(raw, contract, with_target=False, as_of=DAY).clean  # same rows as one pass
    assert stored["customer_id"].tolist() == whole["customer_id"].astype(str).tolist()
    s1, s2 = batch.sample(500, seed=3), batch.sample(500, seed=3)
    assert len(s1) == 500 and s1.equals(s2) and s1["customer_id"].is_unique
    assert set(s1["customer_id"]) <= set(stored["customer_id"])


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=requires_pg)])
def test_chunked_scoring_equals_the_pipeline_and_replaces_the_partition(tmp_path, champion, backend):
    sqlite = contextlib.nullcontext(f"sqlite:///{tmp_path / 'p.db'}")
    with temp_database() if backend == "postgres" else sqlite as url:
        _score_twice_and_fail_once(url, tmp_path, *champion)


def _score_twice_and_fail_once(url, tmp_path, contract, pipeline):
    _, chunks = _raw_chunks()
    batch = validate_to_parquet(chunks, contract, tmp_path / "b.parquet", as_of=DAY)
    for reasons_rows, writer in ((10_000, predictions.PartitionWriter), (50, predictions.BackgroundWriter)):
        # all explained; then a re-run with a cap (writes overlapped in a thread) replaces every row
        with writer(url, DAY) as w:
            res = score_partition(batch, pipeline, threshold=0.5, model_name="m", version="7", writer=w,
                                  reasons=3, reasons_rows=reasons_rows)
        table = predictions.read_partition(url, DAY).set_index("customer_id")
        assert len(table) == w.rows == res.rows == 2_997
        stored = batch.read()
        want = pipeline.predict_proba(stored)[:, 1]
        assert np.array_equal(table.loc[stored["customer_id"], "churn_probability"].to_numpy(), want)
        assert table["risk"].tolist() == [risk_band(x) for x in table["churn_probability"]]
        assert (table["will_churn"] == (table["churn_probability"] >= 0.5)).all()
    explained = table["reason_1"].notna()
    assert 0 < explained.sum() == res.explained <= 50 + 3  # the cap, rounded per chunk
    assert table.loc[explained, "will_churn"].all()
    assert table.loc[explained, "churn_probability"].min() >= table.loc[~explained & table["will_churn"],
                                                                          "churn_probability"].quantile(0.5)
    for writer in (predictions.PartitionWriter, predictions.BackgroundWriter):
        with pytest.raises(RuntimeError), writer(url, DAY) as w:  # the step dies: the partition is as it was
            w.write(table.reset_index().head(10).drop(columns=["partition"]))
            raise RuntimeError("the step died mid-partition")
        assert len(predictions.read_partition(url, DAY)) == 2_997
        rows = table.reset_index().head(10).drop(columns=["partition"])
        with pytest.raises(Exception, match="(?i)unique|duplicate"), writer(url, DAY) as w:
            w.write(rows)
            w.write(rows)  # the same customers twice: the database refuses, the error reaches the caller
            w.write(rows)
        assert len(predictions.read_partition(url, DAY)) == 2_997


def test_matrices_reuse_three_buffers_and_scores_stay_exact_over_many_chunks(tmp_path, champion):
    from churn_assets.core.scoring.batch import MatrixBuffers

    buffers = MatrixBuffers(3)
    first = [buffers.next(10, 4) for _ in range(3)]
    assert buffers.next(7, 4).base is first[0].base and buffers.next(12, 4).base is not first[1].base  # grows
    contract, pipeline = champion
    _, chunks = _raw_chunks(chunk=250)  # 12 chunks of varied sizes after quarantine: buffers wrap 4 times
    batch = validate_to_parquet(chunks, contract, tmp_path / "b.parquet", as_of=DAY)
    with predictions.BackgroundWriter(f"sqlite:///{tmp_path / 'p.db'}", DAY) as w:
        score_partition(batch, pipeline, threshold=0.5, model_name="m", version="1", writer=w, reasons=2,
                        reasons_rows=100)
    stored = batch.read()
    table = predictions.read_partition(f"sqlite:///{tmp_path / 'p.db'}", DAY).set_index("customer_id")
    assert np.array_equal(table.loc[stored["customer_id"], "churn_probability"].to_numpy(),
                          pipeline.predict_proba(stored)[:, 1])
    # A slow consumer: the prefetch thread has prepared the next chunk (into another buffer) meanwhile.
    scorer = BatchScorer(pipeline)
    with contextlib.closing(prefetched(_prepared(batch, scorer))) as items:
        for chunk, X in items:
            time.sleep(0.05)
            assert np.array_equal(X, pipeline[:-1].transform(chunk), equal_nan=True)


def test_compiled_scorer_equals_the_pipeline(champion):
    contract, pipeline = champion
    frame = generate_customers(1_000, seed=21, with_labels=False)
    rng = np.random.default_rng(3)
    for c in contract.columns:  # missing values in every kind of column
        if c.name in frame.columns and c.role in ("numeric", "date", "categorical"):
            frame[c.name] = frame[c.name].mask(rng.random(len(frame)) < 0.1)
    scorer = BatchScorer(pipeline)
    assert scorer.compiled is not None and scorer.direct  # the project's steps, walked without a DataFrame
    assert np.array_equal(scorer.matrix(frame), pipeline[:-1].transform(frame), equal_nan=True)
    assert np.array_equal(scorer.predict(frame), pipeline.predict_proba(frame)[:, 1])


def test_categorical_columns_are_encoded_the_same_without_the_dataframe():
    from churn_assets.model.features import FeatureBuilder, MatrixEncoder

    rng = np.random.default_rng(4)
    raw = generate_customers(2_000, seed=9)
    raw["plan"] = rng.choice(np.array(["basic", "pro", "team", "rare", None], dtype=object), len(raw),
                             p=[0.4, 0.3, 0.27, 0.01, 0.02])
    builder = FeatureBuilder(numeric=["total_spent", "support_tickets"], categorical=["plan"],
                             dates=["signup_date"], as_of="2025-07-01")
    encoder = MatrixEncoder(categorical=["plan"], scale=True)
    X = encoder.fit(builder.fit(raw).transform(raw)).transform(builder.transform(raw))
    est = make_estimator("hist_gradient_boosting", {"max_leaf_nodes": 6}, seed=1).fit(X, raw["churn"])
    pipeline = assemble(builder, encoder, est)
    frame = raw.drop(columns="churn").assign(plan=rng.choice(np.array(["pro", "unseen", None, 3], dtype=object), len(raw)))
    scorer = BatchScorer(pipeline)
    assert scorer.direct
    assert np.array_equal(scorer.matrix(frame), pipeline[:-1].transform(frame), equal_nan=True)
    assert np.array_equal(scorer.predict(frame), pipeline.predict_proba(frame)[:, 1])


def test_any_other_pipeline_is_scored_through_its_own_transform():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).normal(size=(500, 4))
    pipeline = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=20)).fit(X, X[:, 0] > 0)
    frame = pd.DataFrame(X)
    scorer = BatchScorer(pipeline)
    assert not scorer.direct
    assert np.array_equal(scorer.predict(frame), pipeline.predict_proba(frame)[:, 1])


def test_reasons_go_to_the_riskiest_at_risk_rows():
    p = np.array([0.9, 0.1, 0.7, 0.95, 0.6, 0.2])
    assert list(reason_rows(p, 0.5, None)) == [0, 1, 2, 3, 4, 5]
    assert list(reason_rows(p, 0.5, 2)) == [0, 3]
    assert list(reason_rows(p, 0.96, 5)) == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=requires_pg)])
def test_bulk_write_stores_any_string_and_every_float_exactly(tmp_path, backend):
    """COPY's text format escapes what it must: ids with tabs, newlines, backslashes, the two
    characters \\N (a string, not NULL), quotes and non-ASCII come back as they were; NULL reasons stay
    NULL; probabilities come back to the last bit."""
    ids = ["plain", "tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", 'quote"d,comma', "ünï©ødé", "", " "]
    rng = np.random.default_rng(3)
    p = np.concatenate([[0.0, 1.0, 5e-324, 1 - 2**-53, 0.1 + 0.2], rng.random(len(ids) - 5)])
    rows = pd.DataFrame({"customer_id": ids, "churn_probability": p, "will_churn": p >= 0.5, "risk": "low",
                         "model_name": "m\tx", "model_version": "it's 3", "scored_at": pd.Timestamp("2025-07-03", tz="UTC"),
                         "reason_1": [None, "a:+0.1", "tab\t:+1", None, "\\N", None, None, "é:-2", None, None],
                         "reason_2": None})
    sqlite = contextlib.nullcontext(f"sqlite:///{tmp_path / 'p.db'}")
    with temp_database() if backend == "postgres" else sqlite as url:
        assert predictions.replace_partition(url, DAY, rows) == len(ids)
        got = predictions.read_partition(url, DAY).set_index("customer_id").loc[ids]
    assert got.index.tolist() == ids
    assert np.array_equal(got["churn_probability"].to_numpy(), p)
    assert got["will_churn"].astype(bool).tolist() == (p >= 0.5).tolist()
    assert (got["model_name"] == "m\tx").all() and (got["model_version"] == "it's 3").all()  # one value: a literal
    assert [None if pd.isna(v) else v for v in got["reason_1"]] == rows["reason_1"].tolist()
    assert got["reason_2"].isna().all() and got["reason_3"].isna().all()


def test_outcomes_joined_in_chunks_equal_the_whole_day(tmp_path, champion):
    """labelled_outcomes joins the day chunk by chunk: the same rows, labels and counts as validating
    the whole joined day at once (a customer in two chunks is a duplicate either way)."""
    contract, _ = champion
    raw, chunks = _raw_chunks()
    rng = np.random.default_rng(2)
    ids = raw["customer_id"].astype(str)
    chosen = pd.concat([ids.drop_duplicates().sample(2_500, random_state=1), ids.loc[[300, 2_402]]]).drop_duplicates()
    chosen = chosen.tolist() + ["gone-1", "gone-2"]  # with outcomes for both repeated customers, and two strangers
    labels = pd.DataFrame({"customer_id": chosen, contract.target_column: rng.integers(0, 2, len(chosen))})
    labels = pd.concat([labels, labels.head(4).assign(**{contract.target_column: 1})], ignore_index=True)  # re-sent
    day = outcomes.join_to_parquet(chunks, labels, contract, tmp_path / "l.parquet", DAY)
    stored = pd.read_parquet(day.path)
    last = labels.drop_duplicates("customer_id", keep="last").set_index("customer_id")[contract.target_column]
    joined = raw.assign(customer_id=ids)
    joined = joined[ids.isin(last.index)].assign(**{contract.target_column: lambda d: last.loc[d["customer_id"]].to_numpy()})
    whole = validate(joined, contract, with_target=True, as_of=DAY)
    assert stored["customer_id"].tolist() == whole.clean["customer_id"].astype(str).tolist()
    assert stored[contract.target_column].tolist() == whole.clean[contract.target_column].tolist()
    assert stored[contract.target_column].dtype == np.int64 and (stored["as_of"] == pd.Timestamp(DAY)).all()
    assert (day.rows, day.batch_rows, day.awaiting) == (len(whole.clean), 3_000, 3_000 - len(joined))
    assert (day.unmatched, day.duplicate_outcomes) == (2, 4)
    assert day.quarantined == len(whole.quarantined) and day.reasons == whole.reasons
    assert whole.reasons["duplicate id"] == 2  # one customer in two chunks, another twice in one
    assert day.positives == int(stored[contract.target_column].sum()) and len(day.head) == 20
    with pytest.raises(ValueError, match="outcomes need the columns"):
        outcomes.join_to_parquet(chunks, labels.drop(columns=[contract.target_column]), contract,
                                 tmp_path / "x.parquet", DAY)


def test_risk_bands_of_an_array_are_risk_band_of_each_value():
    from churn_assets.model.scorer import risk_bands

    p = np.array([0.0, 0.2999999, 0.3, 0.45, 0.5999999, 0.6, 0.99, 1.0, np.nan])
    got = risk_bands(p)
    assert got.tolist() == [risk_band(x) for x in p] == ["low", "low", "medium", "medium", "medium", "high", "high",
                                                          "high", "high"]
    assert risk_bands(np.array([0.1, 0.7]), bands=(0.05, 0.5)).tolist() == ["medium", "high"]


def test_prefetched_keeps_order_raises_in_the_caller_and_leaves_no_thread():
    import contextlib
    import threading

    from churn_assets.core.scoring.batch import prefetched

    def prefetch_threads():
        return [t for t in threading.enumerate() if t.name.startswith("scoring-prefetch")]

    seen = []

    def items(fail_at=None):
        for i in range(6):
            if i == fail_at:
                raise ValueError(f"item {i} is bad")
            seen.append(threading.current_thread().name)
            yield i

    assert list(prefetched(items())) == list(range(6))
    assert all(name.startswith("scoring-prefetch") for name in seen)  # computed off the caller's thread
    with pytest.raises(ValueError, match="item 3 is bad"):
        list(prefetched(items(fail_at=3)))
    with contextlib.closing(prefetched(items())) as it:
        assert next(it) == 0  # the caller stops early: closing waits for the item in flight
    assert not prefetch_threads()
