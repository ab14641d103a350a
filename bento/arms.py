"""Champion and challenger in one Bento, routed inside the one adaptive batch call.

``CHURN_SERVING_MODE`` (churn_assets/model/settings.py, ``ServingSettings``):

* ``single``: the champion answers (the default, and the only mode without a packaged challenger);
* ``shadow``: the champion answers; the challenger scores the *same* batch right after it, in the
  same batch call, and its answers go to the prediction log (``served=False``) and the metrics,
  never to the client;
* ``ab``: each record is routed by ``churn_assets.model.ab_split`` (a stable hash of the customer
  id): a ``CHURN_AB_CHALLENGER_SHARE`` of customers get the challenger's answer, always the same
  customers, on every worker, after restarts, over HTTP and gRPC.

Every answer names its arm and model version; every prediction-log row too. Counts and latencies
by arm go to /metrics (bento/metrics.py). shadow/ab without a challenger in the Bento (the registry's
challenger was the champion when ``churn_bento`` ran) serve as ``single``, with a warning at start
and ``mode``/``requested_mode`` in /model_info: a promotion must not crash-loop the deployment.
"""

from __future__ import annotations

import json
import logging
import time

from bento import metrics
from churn_assets.model.ab_split import CHALLENGER, CHAMPION, bucket
from churn_assets.model.scorer import FastScorer, risk_bands

log = logging.getLogger("bentoml.service")


class Arm:
    """One packaged model: its Pipeline, fast scorer, registry version, threshold and (once built) explainer."""

    def __init__(self, name: str, model, bands: tuple[float, ...]) -> None:
        import bentoml

        self.name, self.bands, self.tag = name, bands, str(model.tag)
        self.meta = model.info.metadata
        self.version = str(self.meta["registry_version"])
        self.threshold = float(self.meta["threshold"])
        self.pipeline = bentoml.sklearn.load_model(model)
        self.scorer = FastScorer(self.pipeline)
        self.explainer = None
        self.explain_error = "not built"

    def build_explainer(self) -> None:
        """Once per worker at start-up (TreeSHAP tables are built from the trees)."""
        from churn_assets.model.explain import PipelineExplainer

        try:
            self.explainer = PipelineExplainer(self.pipeline)
        except (TypeError, ValueError) as err:  # e.g. a logistic regression fitted before encoded_means_
            self.explain_error = str(err)
            log.warning("explanations unavailable for %s v%s: %s", self.name, self.version, err)

    def answers(self, records: list[dict], ids: list[str]) -> list[dict]:
        probs = self.scorer.predict_records(records)
        version, name = self.version, self.name
        # Whole-array comparisons and bands (risk_bands: risk_band of every probability), then plain
        # Python values: float(p) is exactly p (.tolist()), as the API has always answered.
        return [{"customer_id": i, "churn_probability": p, "will_churn": w, "risk": r, "model_version": version,
                 "arm": name} for i, p, w, r in zip(ids, probs.tolist(), (probs >= self.threshold).tolist(),
                                                    risk_bands(probs, self.bands).tolist())]

    def info(self) -> dict:
        return {"version": self.version, "alias": self.meta["alias"], "bento_model": self.tag,
                "threshold": self.threshold, "estimator": type(self.pipeline[-1]).__name__,
                "metrics": json.loads(self.meta["metrics"]), "explanations": self.explainer is not None}


class Router:
    """Which arm answers which record, and the bookkeeping (log rows, metrics) of every answer."""

    def __init__(self, champion: Arm, challenger: Arm | None, mode: str, share: float, id_column: str) -> None:
        self.champion, self.challenger, self.requested, self.share = champion, challenger, mode, share
        self.id_column = id_column
        if mode != "single" and challenger is None:
            log.warning("CHURN_SERVING_MODE=%s but this Bento packs no challenger (the registry's challenger was "
                        "the champion when churn_bento ran): serving single (champion only)", mode)
            mode = "single"
        self.mode = mode
        self.plog = None  # the PredictionLog, set at start-up when the log is on

    @property
    def serving(self) -> list[Arm]:
        """Arms whose answers reach clients (and are explained by /explain)."""
        return [self.champion, self.challenger] if self.mode == "ab" else [self.champion]

    def split(self, ids: list[str]) -> list[tuple[Arm, list[int]]]:
        """(arm, positions) of the records each serving arm answers."""
        if self.mode != "ab":
            return [(self.champion, list(range(len(ids))))]
        share = self.share
        to_challenger = [bucket(i) < share for i in ids]
        groups = [(self.champion, [j for j, c in enumerate(to_challenger) if not c]),
                  (self.challenger, [j for j, c in enumerate(to_challenger) if c])]
        return [(arm, idx) for arm, idx in groups if idx]

    def score(self, customers: list, records: list[dict]) -> list[dict]:
        idc = self.id_column
        ids = [str(r[idc]) for r in records]
        groups = self.split(ids)
        if len(groups) == 1:  # the common case: no reordering
            arm = groups[0][0]
            out = arm.answers(records, ids)
            self._record(arm, customers, records, out, served=True)
        else:
            out = [None] * len(ids)
            for arm, idx in groups:
                sub = [records[j] for j in idx]
                answers = arm.answers(sub, [ids[j] for j in idx])
                for j, a in zip(idx, answers):
                    out[j] = a
                self._record(arm, [customers[j] for j in idx], sub, answers, served=True)
        if self.mode == "shadow":  # same batch, same call: answers logged and counted, never returned
            self._record(self.challenger, customers, records, self.challenger.answers(records, ids), served=False)
        return out

    def _record(self, arm: Arm, customers: list, records: list[dict], answers: list[dict], served: bool) -> None:
        now, counts = time.perf_counter(), {}
        name, version = arm.name, arm.version
        append = self.plog.append if self.plog is not None else None
        per_request: dict[tuple, int] = {}  # the records of one request share its _rq: one latency each
        for c, r, a in zip(customers, records, answers):
            rq = c._rq  # set when the record was validated (bento/schemas.py, bento/lean.py)
            per_request[rq] = per_request.get(rq, 0) + 1
            if append is not None:
                append(rq[0], rq[1], version, r, a["churn_probability"], a["customer_id"], name, served)
        for (_, transport, arrived), n in per_request.items():
            counts[transport] = counts.get(transport, 0) + n
            metrics.latency(name, transport, now - arrived, n)
        for transport, n in counts.items():
            metrics.predictions(name, transport, served, n)

    def log_explained(self, customers: list, records: list[dict], answers: list[dict]) -> None:
        """/explain answers go to the prediction log like predictions (the call's request id and
        transport, the arm and version that answered), not into the per-arm prediction metrics."""
        if self.plog is None:
            return
        for c, r, a in zip(customers, records, answers):
            rid, transport, _ = c._rq
            self.plog.append(rid, transport, a["model_version"], r, a["churn_probability"], a["customer_id"],
                             a["arm"], True)

    def info(self) -> dict:
        return {"mode": self.mode, "requested_mode": self.requested,
                "challenger_share": self.share if self.mode == "ab" else None,
                "arms": {CHAMPION: self.champion.info(),
                         CHALLENGER: self.challenger.info() if self.challenger is not None else None}}
