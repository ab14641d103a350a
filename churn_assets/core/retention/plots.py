"""The 3x3 risk x value grid as a heat-map PNG (matplotlib, headless)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from churn_assets.core.retention.targeting import LEVELS


def grid_png(grid: pd.DataFrame, value: str = "customers", title: str = "customers by risk x value") -> bytes:
    """``grid``: rows with risk, value (levels) and the ``value`` column; high risk on top."""
    m = np.zeros((3, 3))
    sel = np.zeros((3, 3))
    for r in grid.itertuples():
        i, j = 2 - LEVELS.index(r.risk), LEVELS.index(r.value)
        m[i, j] = getattr(r, value)
        sel[i, j] = getattr(r, "selected", 0)
    fig, ax = plt.subplots(figsize=(4.8, 4))
    im = ax.imshow(m, cmap="Reds")
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{int(m[i, j]):,}\n({int(sel[i, j]):,} selected)", ha="center", va="center", fontsize=8,
                    color="white" if m[i, j] > m.max() * 0.6 else "black")
    ax.set_xticks(range(3), LEVELS)
    ax.set_yticks(range(3), LEVELS[::-1])
    ax.set(xlabel="value", ylabel="churn risk", title=title)
    fig.colorbar(im, ax=ax, shrink=0.8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def qini_png(curves: dict[str, pd.DataFrame]) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, c in curves.items():
        ax.plot(c["share"], c["incremental_saves"], label=name)
    first = next(iter(curves.values()))
    ax.plot(first["share"], first["random"], "--", color="grey", label="random")
    ax.set(xlabel="share of customers contacted", ylabel="incremental saves (held out)", title="Qini curve")
    ax.legend(loc="lower right")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
