"""Scoring a stored partition chunk by chunk: the Pipeline's own transformers, the model compiled
(bit-identical, ``compiled_trees``), reasons for the customers a retention team acts on, and a
bulk write per chunk. Memory is bounded by the chunk, not the partition."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churn_assets.model.scorer import risk_bands


class BatchScorer:
    """``pipeline.predict_proba(frame)[:, 1]``, equal to the last bit, with the ensemble compiled."""

    def __init__(self, pipeline, compiled: bool = True):
        from churn_assets.model.features import FeatureBuilder, MatrixEncoder

        self.pipeline, self.prepare, self.model = pipeline, pipeline[:-1], pipeline[-1]
        steps = [step for _, step in pipeline.steps[:-1]]
        self.builder, self.encoder = steps if len(steps) == 2 else (None, None)
        self.direct = isinstance(self.builder, FeatureBuilder) and isinstance(self.encoder, MatrixEncoder)
        self.compiled = None
        if compiled:
            from churn_assets.core.scoring.compiled_trees import compile_ensemble

            self.compiled = compile_ensemble(self.model)

    def matrix(self, frame: pd.DataFrame, buffers: MatrixBuffers | None = None) -> np.ndarray:
        """``pipeline[:-1].transform(frame)``, equal to the last bit. The project's own two steps are
        walked on a dict of columns, as serving does (model/scorer.py), into the next of ``buffers``
        when given; any other Pipeline runs its own ``transform``."""
        if self.direct:
            out = buffers.next(len(frame), len(self.encoder.feature_names_)) if buffers is not None else None
            return self.encoder.encode_columns(self.builder.features_from_columns(self.builder.columns_from_frame(frame)),
                                               out)
        return self.prepare.transform(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.proba(self.matrix(frame))

    def proba(self, X: np.ndarray) -> np.ndarray:
        """P(churn) of the encoded matrix ``X`` (the compiled ensemble releases the GIL)."""
        return (self.compiled or self.model).predict_proba(X)[:, 1]


def reason_rows(p: np.ndarray, threshold: float, quota: int | None) -> np.ndarray:
    """Which rows of a chunk get reasons: all (quota None), else its ``quota`` at-risk rows
    (p >= threshold) of highest probability, ties broken by position."""
    if quota is None:
        return np.arange(len(p))
    at_risk = np.flatnonzero(p >= threshold)
    order = at_risk[np.argsort(-p[at_risk], kind="stable")]
    return np.sort(order[:quota])


@dataclass
class ScoreSummary:
    rows: int = 0
    churners: int = 0
    prob_sum: float = 0.0
    explained: int = 0
    risk: Counter = field(default_factory=Counter)
    last: pd.DataFrame | None = None  # the last chunk written (its schema for the metadata)


def score_partition(batch, pipeline, *, threshold: float, model_name: str, version: str, writer,
                    reasons: int = 0, reasons_rows: int = 100_000, compiled: bool = True) -> ScoreSummary:
    """Score every row group of ``batch`` (a ``StoredBatch``) and hand each chunk to ``writer`` (a
    ``PartitionWriter``, or a ``BackgroundWriter`` that overlaps each write with the next chunk's model)."""
    scorer, out = BatchScorer(pipeline, compiled=compiled), ScoreSummary()
    scored_at = dt.datetime.now(dt.UTC)
    capped = reasons and batch.rows > reasons_rows
    if reasons:  # exact contributions per raw column (model/explain.py), one explainer for all chunks
        from churn_assets.core.scoring.batch_reasons import batch_explainer, explain_batch

        explainer = batch_explainer(pipeline)
    pending = None  # the last chunk scored, handed to the writer before the next one enters the model
    # Three threads overlap: this one (the model, which releases the GIL, then the result rows and
    # reasons), the writer (the chunk before) and a prefetch thread (reading and preparing the chunk
    # after). With the ensemble compiled as bitvectors the write is the longest of the three, so it is
    # never waited for until the next chunk is handed over (BackgroundWriter.write).
    with contextlib.closing(prefetched(_prepared(batch, scorer))) as chunks:
        for chunk, X in chunks:
            if pending is not None:
                writer.write(pending)
            p = scorer.proba(X)
            frame = pd.DataFrame({
                "customer_id": chunk[batch.id_column].astype(str).to_numpy(),
                "churn_probability": p,
                "will_churn": p >= threshold,
                "risk": risk_bands(p),
                "model_name": model_name,
                "model_version": version,
                "scored_at": scored_at,
            })
            if reasons:
                quota = round(reasons_rows * len(chunk) / batch.rows) if capped else None
                rows = reason_rows(p, threshold, quota)
                if len(rows):
                    cols = explain_batch(pipeline, chunk.iloc[rows], reasons, explainer, X=X[rows])
                    for i, col in enumerate(cols, start=1):
                        values = np.full(len(frame), None, dtype=object)  # NULL for the rows not explained
                        values[rows] = col
                        frame[f"reason_{i}"] = values
                out.explained += len(rows)
            pending = frame
            out.rows += len(frame)
            out.churners += int(frame["will_churn"].sum())
            out.prob_sum += float(p.sum())
            out.risk.update(frame["risk"].value_counts().to_dict())
            out.last = frame
    if pending is not None:
        writer.write(pending)
        writer.wait()
    return out


class MatrixBuffers:
    """Encoded matrices written in turn into ``count`` arrays allocated once. A fresh 50 MB matrix per
    200k-row chunk was page-faulted in every time: half of the encoding's CPU on this host. A matrix
    is overwritten ``count`` chunks later, so its user must be done with it by then."""

    def __init__(self, count: int = 3):
        self.arrays: list[np.ndarray | None] = [None] * count
        self.taken = 0

    def next(self, rows: int, columns: int) -> np.ndarray:
        i = self.taken % len(self.arrays)
        self.taken += 1
        array = self.arrays[i]
        if array is None or array.shape[0] < rows or array.shape[1] != columns:
            array = self.arrays[i] = np.empty((rows, columns))
        return array[:rows]


def _prepared(batch, scorer: BatchScorer) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Each chunk and its matrix. Score_partition holds one chunk while the prefetch thread prepares
    the next, and keeps no matrix past its chunk: three buffers leave one spare."""
    buffers = MatrixBuffers(3)
    for chunk in batch.iter_chunks():
        if len(chunk):
            yield chunk, scorer.matrix(chunk, buffers)


def prefetched(items: Iterator) -> Iterator:
    """``items`` in order, each computed in a second thread while the caller works on the one before.
    Closing it (or a caller that stops early) waits for the one item in flight."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="scoring-prefetch")
    try:
        ahead = pool.submit(next, items, _END)
        while (item := ahead.result()) is not _END:
            ahead = pool.submit(next, items, _END)
            yield item
    finally:
        pool.shutdown()


_END = object()


__all__ = ["BatchScorer", "ScoreSummary", "reason_rows", "score_partition"]
