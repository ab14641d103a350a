"""Reasons for every row of a scoring partition: one explainer per partition, its TreeSHAP tabulated
and compiled with numba (``compiled_shap``). The serving kernel's ``model.explain`` stays numba-free."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from churn_assets.model.explain import PipelineExplainer, top_reasons


def batch_explainer(pipeline) -> PipelineExplainer | None:
    """One explainer for every chunk of a scoring partition, its TreeSHAP tabulated and compiled
    (``compiled_shap``, the same values ~10-50x faster) when numba is installed: the Dagster code
    location has it, the Bento does not. None for a logistic regression fitted before
    ``encoded_means_`` existed (``explain_batch`` then uses each batch's own mean)."""
    if not hasattr(pipeline.named_steps["encode"], "encoded_means_"):
        return None
    explainer = PipelineExplainer(pipeline, threads=os.cpu_count() or 1)
    if explainer.shap is not None:
        try:
            from churn_assets.core.scoring.compiled_shap import compile_shap
        except ImportError:  # numba absent: the numpy TreeSHAP, split over threads
            return explainer
        explainer.shap = compile_shap(explainer.shap) or explainer.shap
    return explainer


def explain_batch(pipeline, frame: pd.DataFrame, k: int = 3, explainer: PipelineExplainer | None = None,
                  X: np.ndarray | None = None) -> list[list[str | None]]:
    """The top-k reasons of every row of a scored batch, as k columns of ``"column:+0.42"`` strings.

    ``X``, the rows' encoded matrix when the caller has it (batch scoring does), is not computed again;
    only the contributions are (no probabilities, which the caller has too). A logistic regression
    fitted before ``encoded_means_`` existed is explained against the batch's own mean (stated in the
    README); every other pipeline against its training background. The rows are split over the
    machine's cores (TreeSHAP's numpy work releases the GIL).
    """
    if explainer is None:
        enc = pipeline.named_steps["encode"]
        background = frame if not hasattr(enc, "encoded_means_") else None
        explainer = PipelineExplainer(pipeline, background=background, threads=os.cpu_count() or 1)
    if X is None:
        X = explainer.encode(frame)
    reasons = top_reasons(explainer.features_of(X) @ explainer.mapping, explainer.columns, k)
    return [list(col) for col in zip(*reasons)]
