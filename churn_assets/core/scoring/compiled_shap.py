"""TreeSHAP for batch scoring, compiled with numba: the values of ``tree_shap.TreeShap``, ~10-50x faster.

``TreeShap`` computes, per leaf with ``d`` distinct path features, each feature's Shapley value from
the row's "one fractions" ``b_j`` (does the row satisfy the path's splits on feature j?) alone. A
leaf has only ``2**d`` possible ``b`` patterns, so this tabulates every leaf's ``d`` values for
every pattern once (the same quadrature formula, in float64), and explaining a row is then one
table lookup per leaf: ``d`` comparisons to find the pattern, ``d`` additions (the idea of Fast
TreeSHAP v2, Yang 2021). Rows are explained in blocks over all cores, each leaf's table staying in
cache while a block of rows reads it.

The table holds ``2**d * d`` values per leaf: 4 MB for a 300-tree boosting model of 10 leaves,
~110 MB for a 100-tree depth-8 forest. Leaves with more than ``MAX_D`` distinct path features, and
any beyond ``MAX_TABLE_VALUES``, are not tabulated: their values are computed per row by the same
formula, in the same compiled loop.

numba is a dependency of the Dagster code location only: the Bento explains one request at a time
with ``tree_shap`` (pure numpy) and keeps its image small.
"""

from __future__ import annotations

import numba
import numpy as np

from churn_assets.core.scoring.compiled_trees import cached_njit
from churn_assets.model.tree_shap import TreeShap

MAX_D = 12  # 2**12 * 12 values per leaf at most
MAX_TABLE_VALUES = 64_000_000  # 512 MB; leaves beyond it are computed per row
MAX_BLOCK = 1024  # rows per block: each leaf's table is read once per block, the rows' sums stay in cache


@cached_njit(nogil=True)
def _leaf_values(k, dk, p, z, v, nodes, weights, f, out):  # pragma: no cover
    """out[:dk] = the Shapley values of leaf k's dk path features when the row's one-fractions are
    the bits of p: v (b_i - z_i) times the Gauss-Legendre sum of prod_{j != i} (z_j + (b_j - z_j) t)."""
    for i in range(dk):
        out[i] = 0.0
    for q in range((dk + 1) // 2):
        t, total = nodes[dk, q], 1.0
        for j in range(dk):
            f[j] = z[k, j] + (1.0 - z[k, j]) * t if (p >> j) & 1 else z[k, j] * (1.0 - t)
            total *= f[j]
        for i in range(dk):
            out[i] += total / f[i] * weights[dk, q]
    for i in range(dk):
        out[i] = (float((p >> i) & 1) - z[k, i]) * out[i] * v[k]


@cached_njit(parallel=True, nogil=True)
def _tabulate(d, z, v, offset, nodes, weights, table):  # pragma: no cover
    """table[offset[k] + p * d + i] = phi_i of leaf k when the row's one-fractions are the bits of p."""
    for k in numba.prange(d.shape[0]):
        if offset[k] < 0:  # computed per row instead
            continue
        dk = d[k]
        f = np.empty(dk)
        for p in range(1 << dk):
            base = offset[k] + p * dk
            _leaf_values(k, dk, p, z, v, nodes, weights, f, table[base:base + dk])


@cached_njit(parallel=True, nogil=True)
def _explain(X, d, feat, lo, hi, nan_ok, offset, table, z, v, nodes, weights, block, out):  # pragma: no cover
    n, width = X.shape[0], feat.shape[1]
    for blk in numba.prange((n + block - 1) // block):
        r0, r1 = blk * block, min(n, (blk + 1) * block)
        f, phi = np.empty(width), np.empty(width)
        for k in range(d.shape[0]):
            dk, o = d[k], offset[k]
            for r in range(r0, r1):
                p = 0
                for j in range(dk):
                    x = X[r, feat[k, j]]
                    one = nan_ok[k, j] if np.isnan(x) else lo[k, j] < x <= hi[k, j]
                    if one:
                        p |= 1 << j
                if o >= 0:  # tabulated: one lookup
                    phi[:dk] = table[o + p * dk:o + (p + 1) * dk]
                else:  # a leaf too deep to tabulate: the same formula, for this row
                    _leaf_values(k, dk, p, z, v, nodes, weights, f, phi)
                for j in range(dk):
                    out[r, feat[k, j]] += phi[j]


def _block(rows: int) -> int:
    """Large blocks (fewer passes over the tables), but at least one per thread."""
    return max(1, min(MAX_BLOCK, -(-rows // numba.get_num_threads())))


class CompiledTreeShap:
    """The same ``base_value`` and ``shap_values(X)`` as the ``TreeShap`` it is built from."""

    def __init__(self, shap: TreeShap):
        buckets = shap.buckets
        width = max((b.d for b in buckets), default=1)
        leaves = sum(len(b.v) for b in buckets)
        self.d = np.concatenate([np.full(len(b.v), b.d, np.int64) for b in buckets]) if buckets \
            else np.zeros(0, np.int64)
        self.feat = np.zeros((leaves, width), np.int64)
        self.lo, self.hi = np.zeros((leaves, width)), np.zeros((leaves, width))
        self.nan_ok, z = np.zeros((leaves, width), np.bool_), np.ones((leaves, width))
        v, at = np.zeros(leaves), 0
        for b in buckets:
            rows = slice(at, at + len(b.v))
            self.feat[rows, :b.d], self.lo[rows, :b.d], self.hi[rows, :b.d] = b.feat, b.lo, b.hi
            self.nan_ok[rows, :b.d], z[rows, :b.d], v[rows] = b.nan_ok, b.z, b.v
            at += len(b.v)
        # Leaves are tabulated shallowest first (buckets are sorted by d) while the table fits; deeper
        # leaves are computed per row by the same formula.
        sizes = np.where(self.d <= MAX_D, (1 << np.minimum(self.d, MAX_D)) * self.d, 0)
        sizes[np.cumsum(sizes) > MAX_TABLE_VALUES] = 0
        self.offset = np.where(sizes > 0, np.concatenate([[0], np.cumsum(sizes)[:-1]]), -1).astype(np.int64)
        self.tabulated = int((sizes > 0).sum())
        nodes, weights = np.zeros((width + 1, (width + 1) // 2 + 1)), np.zeros((width + 1, (width + 1) // 2 + 1))
        for dd in range(1, width + 1):  # Gauss-Legendre on [0, 1], exact for the degree d-1 integrand
            x, w = np.polynomial.legendre.leggauss(max(1, (dd + 1) // 2))
            nodes[dd, :len(x)], weights[dd, :len(w)] = (x + 1) / 2, w / 2
        self.table = np.empty(int(sizes.sum()))
        _tabulate(self.d, z, v, self.offset, nodes, weights, self.table)
        self.z, self.v, self.nodes, self.weights = z, v, nodes, weights
        self.base_value, self.n_features = shap.base_value, shap.n_features
        self.float32_inputs = shap.float32_inputs

    def shap_values(self, X: np.ndarray, threads: int = 1) -> np.ndarray:  # threads: numba uses all cores
        X = np.asarray(X, dtype=np.float64)
        if self.float32_inputs:  # forests compare float32 inputs with float64 thresholds, as sklearn does
            X = X.astype(np.float32).astype(np.float64)
        out = np.zeros((len(X), self.n_features))
        _explain(np.ascontiguousarray(X), self.d, self.feat, self.lo, self.hi, self.nan_ok, self.offset,
                 self.table, self.z, self.v, self.nodes, self.weights, _block(len(X)), out)
        return out


def compile_shap(shap: TreeShap) -> CompiledTreeShap | None:
    """The compiled explainer; None when a path has more than 63 distinct features (a bit pattern
    in one 64-bit integer), which the numpy TreeSHAP then explains."""
    if any(b.d > 63 for b in shap.buckets):
        return None
    return CompiledTreeShap(shap)
