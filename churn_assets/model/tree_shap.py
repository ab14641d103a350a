"""Exact path-dependent TreeSHAP (the values of Lundberg et al. 2018, Algorithm 2) in numpy.

Algorithm 2 recurses over each tree per row in Python-hostile loops. This computes the same
Shapley values leaf by leaf, vectorized over rows and leaves:

For one leaf with value ``v``, let ``D`` be the distinct features split on along its root path.
For feature ``j`` in ``D``: ``z_j`` = the product of the cover fractions of the path's children at
the splits on ``j`` (the "zero fraction"), ``b_j`` = 1 when the row satisfies every split on ``j``
along the path, else 0 (the "one fraction"). The path-dependent value of a coalition ``S`` is
``v * prod_{j in S} b_j * prod_{j not in S} z_j``; its Shapley value for ``i`` is

    phi_i = v (b_i - z_i) * sum_S |S|!(d-|S|-1)!/d! prod_{j in S} b_j prod_{j not in S, j != i} z_j
          = v (b_i - z_i) * integral_0^1 prod_{j != i} (z_j + (b_j - z_j) t) dt

(the Shapley weight is the Beta integral of t^|S| (1-t)^(d-|S|-1)). The integrand is a polynomial
of degree d-1, so Gauss-Legendre quadrature with ceil(d/2) nodes is exact. Summed over leaves the
values are additive: base (the cover-weighted mean leaf value) + sum(phi) = the tree's output.
Covers are the training sample weights of the nodes (forest: ``weighted_n_node_samples``, boosting:
``count``), as in shap's TreeExplainer. A child's fraction is its cover over the sum of both
children's covers, so the fractions of a split always sum to 1 (exact additivity).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

MIN_ROWS_PER_THREAD = 64  # below this a thread's start-up costs more than it saves


class _Bucket:
    """Leaves with the same number ``d`` of distinct path features, as (leaves, d) arrays."""

    def __init__(self, d: int, rows: list[tuple], n_features: int):
        self.d = d
        self.feat = np.array([r[0] for r in rows], dtype=np.intp)
        self.lo = np.array([r[1] for r in rows])
        self.hi = np.array([r[2] for r in rows])
        self.nan_ok = np.array([r[3] for r in rows], dtype=bool)
        self.z = np.array([r[4] for r in rows])
        self.v = np.array([r[5] for r in rows])
        x, w = np.polynomial.legendre.leggauss(max(1, (d + 1) // 2))
        t, self.w = (x + 1) / 2, w / 2  # exact on [0, 1] up to degree 2m-1 >= d-1
        # factor_j(t) at each quadrature node, for b_j = 0 and b_j = 1: (leaves, m, d), computed once
        # (d last: the product over path features runs on contiguous memory, ~2x faster than d-before-m).
        # Covers are > 0 (scikit-learn drops zero-weight samples), so every factor is > 0 for t < 1.
        z, tt = self.z[:, None, :], t[None, :, None]
        self.f0 = np.ascontiguousarray(z * (1 - tt))
        self.f1 = np.ascontiguousarray(z + (1 - z) * tt)
        n_slots = self.feat.size
        self.to_features_t = sparse.csr_matrix(  # (features, slots): sums slot values per feature
            (np.ones(n_slots), (self.feat.ravel(), np.arange(n_slots))), shape=(n_features, n_slots))

    def phi(self, X: np.ndarray) -> np.ndarray:
        """(n_rows, n_features) contributions of this bucket's leaves."""
        xv = X[:, self.feat]  # (n, L, d)
        b = (xv > self.lo) & (xv <= self.hi)
        if np.isnan(xv).any():
            b = np.where(np.isnan(xv), self.nan_ok, b)
        f = np.where(b[:, :, None, :], self.f1, self.f0)  # (n, L, m, d)
        total = f.prod(axis=3, keepdims=True)
        np.divide(total, f, out=f)  # prod over j != i, at each quadrature node
        integral = np.einsum("nlmd,m->nld", f, self.w)  # (n, L, d)
        slots = (b - self.z) * integral * self.v[:, None]
        return (self.to_features_t @ slots.reshape(len(X), -1).T).T


class TreeShap:
    """Path-dependent TreeSHAP of a sum of trees: ``output(x) = offset + scale * sum_t tree_t(x)``.

    ``trees``: per tree a dict of node arrays ``feature, threshold, left, right, is_leaf,
    missing_left, cover, value`` (left child when ``x <= threshold``).
    """

    def __init__(self, trees: list[dict], n_features: int, offset: float = 0.0, scale: float = 1.0,
                 float32_inputs: bool = False, max_cells: int = 250_000):
        self.n_features = n_features
        self.float32_inputs = float32_inputs
        self.max_cells = max_cells
        by_d: dict[int, list[tuple]] = {}
        base = 0.0
        for tree in trees:
            for leaf in _leaf_paths(tree):
                feats = sorted(leaf["paths"])
                d = len(feats)
                v = scale * leaf["value"]
                z = [leaf["paths"][f][3] for f in feats]
                base += v * float(np.prod(z)) if d else v
                if d:
                    p = leaf["paths"]
                    by_d.setdefault(d, []).append((feats, [p[f][0] for f in feats], [p[f][1] for f in feats],
                                                   [p[f][2] for f in feats], z, v))
        self.base_value = offset + base
        self.buckets = [_Bucket(d, rows, n_features) for d, rows in sorted(by_d.items())]
        self.n_leaves = sum(len(b.v) for b in self.buckets)

    def shap_values(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        """(n_rows, n_features) contributions. ``threads`` > 1 splits the rows over a thread pool: the
        work is numpy's (GIL released), so a large batch uses several cores (batch scoring does)."""
        X = np.asarray(X, dtype=np.float64)
        if self.float32_inputs:  # forests compare float32 inputs with float64 thresholds, as sklearn does
            X = X.astype(np.float32).astype(np.float64)
        threads = max(1, min(threads, len(X) // MIN_ROWS_PER_THREAD))
        if threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads, thread_name_prefix="tree-shap") as pool:
                return np.vstack(list(pool.map(self._values, np.array_split(X, threads))))
        return self._values(X)

    def _values(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((len(X), self.n_features))
        for bucket in self.buckets:
            cells = max(1, bucket.f0.size)
            step = max(1, self.max_cells // cells)  # rows per chunk: small enough to stay in cache
            for s in range(0, len(X), step):
                out[s:s + step] += bucket.phi(X[s:s + step])
        return out


def _leaf_paths(tree: dict):
    """Each leaf with its value and, per path feature, (lo, hi, missing ok, zero fraction)."""
    feature, threshold = tree["feature"], tree["threshold"]
    left, right, is_leaf = tree["left"], tree["right"], tree["is_leaf"]
    missing_left, cover = tree["missing_left"], np.asarray(tree["cover"], dtype=np.float64)
    stack = [(0, {})]
    while stack:
        node, paths = stack.pop()
        if is_leaf[node]:
            yield {"value": float(tree["value"][node]), "paths": paths}
            continue
        f, thr = int(feature[node]), float(threshold[node])
        lc, rc = int(left[node]), int(right[node])
        total = cover[lc] + cover[rc]
        for child, goes_left in ((lc, True), (rc, False)):
            lo, hi, nan_ok, z = paths.get(f, (-np.inf, np.inf, True, 1.0))
            lo, hi = (lo, min(hi, thr)) if goes_left else (max(lo, thr), hi)
            nan_ok = nan_ok and bool(missing_left[node]) == goes_left
            stack.append((child, {**paths, f: (lo, hi, nan_ok, z * cover[child] / total)}))


def forest_trees(est) -> list[dict]:
    """A fitted binary RandomForestClassifier's trees; values = per-tree P(class 1)."""
    out = []
    for e in est.estimators_:
        t = e.tree_
        out.append({"feature": t.feature, "threshold": t.threshold, "left": t.children_left,
                    "right": t.children_right, "is_leaf": t.children_left < 0,
                    "missing_left": getattr(t, "missing_go_to_left", np.zeros(t.node_count, np.uint8)),
                    "cover": t.weighted_n_node_samples, "value": t.value[:, 0, 1]})
    return out


def boosting_trees(est) -> list[dict]:
    """A fitted binary HistGradientBoostingClassifier's trees (raw log-odds leaf values)."""
    if est.n_trees_per_iteration_ != 1:
        raise TypeError("only binary HistGradientBoostingClassifier is explained")
    out = []
    for it in est._predictors:
        n = it[0].nodes
        if n["is_categorical"].any():
            raise TypeError("native categorical splits are not explained")
        out.append({"feature": n["feature_idx"], "threshold": n["num_threshold"], "left": n["left"],
                    "right": n["right"], "is_leaf": n["is_leaf"].astype(bool),
                    "missing_left": n["missing_go_to_left"], "cover": n["count"], "value": n["value"]})
    return out
