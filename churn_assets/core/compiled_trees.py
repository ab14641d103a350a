"""Batch inference for fitted tree ensembles, compiled with numba, bit-identical to scikit-learn.

Scoring a daily partition of millions of customers is bound by the ensemble's ``predict_proba``:
scikit-learn's histogram boosting predicts ~60k rows/s here (300 trees), tree by tree. This walks
the same flattened node table as ``fast_trees`` (one row at a time through every tree, rows in
parallel over all cores) with scikit-learn's arithmetic: the same comparisons (``x <= threshold``
in float64, float32 inputs for forests, the same missing-value rule), leaf values added in tree
order to the same starting value, and the estimator's own link function. The result is equal to
the last bit, which ``test_compiled_trees.py`` checks on random and adversarial inputs.

numba is a dependency of the Dagster code location only: the Bento keeps ``fast_trees`` (pure
numpy) so that its image stays small; this module is imported by batch scoring alone.
"""

from __future__ import annotations

import numba
import numpy as np

from churn_assets.core.fast_trees import FastHistGradientBoosting, FastRandomForest


def cached_njit(**options):
    """``numba.njit(cache=True, ...)``, or without the on-disk cache where no cache folder is writable
    (numba raises at decoration then: a read-only image with no writable home). Without the cache each
    process compiles on first use (~1-2 s)."""
    def wrap(fn):
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:
            return numba.njit(cache=False, **options)(fn)
    return wrap


BLOCK = 128  # rows walked through one tree before the next: their independent walks overlap in the CPU


@cached_njit(parallel=True, nogil=True)
def _sum_leaves(X, feature, threshold, first_child, nan_right, depth, value, roots, start, out):  # pragma: no cover
    """out[i, k] = start[k] + value[leaf(tree_0), k] + value[leaf(tree_1), k] + ... in tree order.

    Branch-free walk: a node's children are adjacent (right = left + 1), and a leaf is its own
    child (threshold +inf, NaN goes left), so every row takes exactly ``depth[t]`` steps in tree t.
    """
    n, k_out = out.shape
    for b in numba.prange((n + BLOCK - 1) // BLOCK):
        lo, hi = b * BLOCK, min(n, (b + 1) * BLOCK)
        at = np.empty(hi - lo, np.intp)
        for i in range(lo, hi):
            for k in range(k_out):
                out[i, k] = start[k]
        for t in range(roots.shape[0]):  # trees in order: each row's sum is sklearn's, term by term
            at[:] = roots[t]
            for _ in range(depth[t]):  # all rows of the block step together: independent loads overlap
                for r in range(hi - lo):
                    node = at[r]
                    x = X[lo + r, feature[node]]
                    at[r] = first_child[node] + ((x > threshold[node]) | (np.isnan(x) & nan_right[node]))
            for r in range(hi - lo):
                for k in range(k_out):
                    out[lo + r, k] += value[at[r], k]


def _adjacent_layout(flat, value):
    """Renumber every tree breadth-first so that each node's two children sit side by side."""
    feature, threshold, first, nan_right, new_value, roots, depths = [], [], [], [], [], [], []
    for root in flat.roots:
        roots.append(len(feature))
        order, depth, level = [int(root)], 0, [int(root)]
        while True:  # breadth-first, children in (left, right) pairs
            nxt = [c for node in level if not flat.is_leaf[node] for c in (int(flat.left[node]), int(flat.right[node]))]
            if not nxt:
                break
            order += nxt
            level, depth = nxt, depth + 1
        new_id = {old: roots[-1] + j for j, old in enumerate(order)}
        for old in order:
            leaf = bool(flat.is_leaf[old])
            feature.append(0 if leaf else flat.feature[old])
            threshold.append(np.inf if leaf else flat.threshold[old])
            first.append(new_id[old] if leaf else new_id[int(flat.left[old])])
            nan_right.append(False if leaf else not flat.missing_left[old])
            new_value.append(value[old])
        depths.append(depth)
    return (np.array(feature, np.intp), np.array(threshold, np.float64), np.array(first, np.intp),
            np.array(nan_right, np.bool_), np.array(depths, np.intp), np.ascontiguousarray(new_value, np.float64),
            np.array(roots, np.intp))


class CompiledEnsemble:
    """``predict_proba`` of a binary HistGradientBoosting or RandomForest classifier."""

    def __init__(self, est):
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

        if isinstance(est, HistGradientBoostingClassifier):
            fast = FastHistGradientBoosting(est)
            self.kind, self.value, self.start = "hgb", fast.value[:, None], np.array([fast.baseline])
        elif isinstance(est, RandomForestClassifier):
            fast = FastRandomForest(est)
            self.kind, self.value, self.start = "forest", np.ascontiguousarray(fast.value), np.zeros(2)
            self.n_trees = fast.n_trees
        else:
            raise TypeError(f"{type(est).__name__} is not a compiled tree ensemble")
        self.est = est
        self.tables = _adjacent_layout(fast.flat, self.value)

    def _sum(self, X: np.ndarray) -> np.ndarray:
        feature, threshold, first, nan_right, depth, value, roots = self.tables
        out = np.empty((X.shape[0], value.shape[1]))
        _sum_leaves(np.ascontiguousarray(X), feature, threshold, first, nan_right, depth, value, roots, self.start, out)
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "hgb":
            raw = self._sum(np.asarray(X, dtype=np.float64))
            return self.est._loss.predict_proba(np.asfortranarray(raw))
        # Trees compare float32 inputs with float64 thresholds, as sklearn's tree code does.
        return self._sum(np.asarray(X, dtype=np.float32).astype(np.float64)) / self.n_trees


def compile_ensemble(est) -> CompiledEnsemble | None:
    """The compiled predictor of ``est``, or None (logistic regression, unsupported variants)."""
    try:
        return CompiledEnsemble(est)
    except (TypeError, AttributeError):
        return None
