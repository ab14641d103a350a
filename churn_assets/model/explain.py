"""Why each customer is at risk: exact per-prediction contributions of the fitted Pipeline,
aggregated back to the raw input columns the user sent.

Methods (each with SHAP's additivity: ``base_value + contributions.sum() == raw score``):

* logistic regression: exact linear contributions in log-odds, ``w_j * (x_j - mean_j)``, relative to
  the mean of the encoded training matrix (``MatrixEncoder.encoded_means_``; a ``background`` frame
  can be given instead); base value = the log-odds at that mean.
* random forest: path-dependent TreeSHAP (``model/tree_shap.py``) in probability space, averaged over
  the trees; base value = the cover-weighted mean of the trees' leaf values.
* histogram gradient boosting: the same TreeSHAP in raw log-odds space, base = baseline + tree means.

Aggregation to raw columns (the contribution of a matrix column is given to raw columns as follows;
each row of the mapping sums to 1, so the total is unchanged):

* a raw numeric column and its missing indicator -> that column; ``days_since_<date>`` -> the date
  column; every one-hot column ``c=value`` and ``c=<other>`` -> ``c``;
* an engineered feature of ``model/features.py`` RECIPES is traced back to the raw columns it is
  computed from (transitively: ``support_burden`` <- support_tickets, customer_lifetime_months,
  support_resolution_time) and its contribution is **split equally** among them. Equal split is the
  Shapley value of the feature's contribution when its raw inputs are treated as symmetric players,
  and it is stated, not hidden: ``Explanation.features`` keeps the unaggregated matrix-column values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churn_assets.model.features import RECIPES, days_name


@dataclass
class Explanation:
    probability: np.ndarray  # (n,) P(churn), the model's predict_proba
    raw_score: np.ndarray  # (n,) log-odds (LR, HGB) or probability (RF): what the values add up to
    base_value: float
    contributions: np.ndarray  # (n, len(columns)) per raw input column
    columns: list[str]
    space: str  # "log_odds" | "probability"
    features: np.ndarray  # (n, len(feature_names)) per encoded matrix column
    feature_names: list[str]

    def top(self, row: int, k: int = 3) -> list[tuple[str, float]]:
        """The k raw columns with the largest absolute contribution, signed, largest first."""
        c = self.contributions[row]
        order = np.argsort(-np.abs(c), kind="stable")[:k]
        return [(self.columns[j], float(c[j])) for j in order]

    def reasons(self, k: int = 3) -> list[list[str]]:
        """Per row, ``"column:+0.42"`` strings (``None`` padding when fewer than k columns): ``top``
        for every row at once (the same stable order)."""
        return top_reasons(self.contributions, self.columns, k)


def top_reasons(contributions: np.ndarray, columns: list[str], k: int = 3) -> list[list[str | None]]:
    """``Explanation.reasons`` of a (rows x raw columns) contribution matrix."""
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(contributions, order, axis=1).tolist()
    pad = [None] * (k - order.shape[1])
    return [[f"{columns[j]}:{v:+.2f}" for j, v in zip(js, vs)] + pad for js, vs in zip(order.tolist(), values)]


def raw_sources(builder) -> dict[str, list[str]]:
    """Each numeric feature of the fitted FeatureBuilder -> the raw columns it is computed from."""
    out = {c: [c] for c in builder.numeric}
    out.update({days_name(d): [d] for d in builder.dates})
    for name in builder.recipes_:
        srcs: list[str] = []
        for need in RECIPES[name][0]:
            srcs += [s for s in out[need] if s not in srcs]
        out[name] = srcs
    return out


def column_mapping(builder, encoder) -> tuple[np.ndarray, list[str]]:
    """(matrix columns x raw columns) weights, rows summing to 1, and the raw column names."""
    columns = list(builder.numeric) + list(builder.dates) + list(builder.categorical)
    at = {c: j for j, c in enumerate(columns)}
    sources = raw_sources(builder)
    rows = [sources[f] for f in encoder.numeric_] + [sources[encoder.numeric_[i]] for i in encoder.missing_cols_]
    for c, cats in encoder.categories_.items():
        rows += [[c]] * (len(cats) + 1)
    W = np.zeros((len(rows), len(columns)))
    for i, srcs in enumerate(rows):
        W[i, [at[s] for s in srcs]] = 1.0 / len(srcs)
    return W, columns


class PipelineExplainer:
    """Explains the one served Pipeline (features -> encode -> model) on frames or raw records."""

    def __init__(self, pipeline, background: pd.DataFrame | None = None, threads: int = 1):
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
        from sklearn.linear_model import LogisticRegression

        from churn_assets.model import tree_shap

        self.builder = pipeline.named_steps["features"]
        self.encoder = pipeline.named_steps["encode"]
        self.model = model = pipeline.named_steps["model"]
        self.threads = threads  # TreeSHAP's row split; the Bento keeps 1 (its workers already use the cores)
        self.mapping, self.columns = column_mapping(self.builder, self.encoder)
        self.feature_names = list(self.encoder.feature_names_)
        n = len(self.feature_names)
        if isinstance(model, LogisticRegression):
            if background is not None:
                mean = self.encode(background).mean(axis=0)
            elif hasattr(self.encoder, "encoded_means_"):
                mean = self.encoder.encoded_means_
            else:
                raise ValueError("this pipeline's encoder has no encoded_means_ (fitted before explanations "
                                 "existed): pass background= rows to explain a logistic regression")
            self.coef, self.mean = model.coef_.ravel().astype(np.float64), np.asarray(mean, dtype=np.float64)
            self.base_value = float(model.intercept_[0] + self.coef @ self.mean)
            self.space, self.shap = "log_odds", None
        elif isinstance(model, RandomForestClassifier):
            trees = tree_shap.forest_trees(model)
            self.shap = tree_shap.TreeShap(trees, n, scale=1.0 / len(trees), float32_inputs=True)
            self.space = "probability"
        elif isinstance(model, HistGradientBoostingClassifier):
            baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
            self.shap = tree_shap.TreeShap(tree_shap.boosting_trees(model), n, offset=baseline)
            self.space = "log_odds"
        else:
            raise TypeError(f"no exact explainer for {type(model).__name__}")
        if self.shap is not None:
            self.base_value = float(self.shap.base_value)
        from churn_assets.model.tree_arrays import compile_model

        # Small batches score through the flattened trees (identical output, no per-tree call overhead).
        self.fast = compile_model(model)

    def _small(self, X: np.ndarray) -> bool:
        return self.fast is not None and len(X) <= self.fast.max_rows

    def probability(self, X: np.ndarray) -> np.ndarray:
        return (self.fast if self._small(X) else self.model).predict_proba(X)[:, 1]

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        """What the contributions add up to: log-odds (LR, HGB) or P(churn) (RF)."""
        if self.space == "probability":
            return self.probability(X)
        return np.asarray((self.fast if self._small(X) else self.model).decision_function(X),
                          dtype=np.float64).ravel()

    def features_of(self, X: np.ndarray) -> np.ndarray:
        """Per encoded matrix column, what each row's score owes it (the ``features`` of an Explanation)."""
        X = np.asarray(X, dtype=np.float64)
        if self.shap is None:
            return (X - self.mean) * self.coef
        return self.shap.shap_values(X, threads=self.threads)

    def explain_matrix(self, X: np.ndarray) -> Explanation:
        X = np.asarray(X, dtype=np.float64)
        phi = self.features_of(X)
        return Explanation(probability=self.probability(X), raw_score=self.raw_score(X),
                           base_value=self.base_value, contributions=phi @ self.mapping, columns=self.columns,
                           space=self.space, features=phi, feature_names=self.feature_names)

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """The Pipeline's own features and encoding of ``df``: the matrix its model sees."""
        return self.encoder.transform(self.builder.transform(df))

    def explain_frame(self, df: pd.DataFrame) -> Explanation:
        return self.explain_matrix(self.encode(df))

    def explain_records(self, records: Sequence[Mapping[str, Any]]) -> Explanation:
        return self.explain_matrix(self.encoder.encode_columns(self.builder.transform_records(records)))
