"""The contact list: a 3x3 risk x value grid, a ranking by expected net value under a capacity,
a cool-down, and a deterministic treatment/control assignment.

* **Grid.** Risk and value are cut into low / medium / high at fixed cut points: the terciles of
  the champion's training scores (its logged reference) and of the customer values the first time
  the champion targets; they are stored per champion version so the cells mean the same every day.
* **Ranking.** Expected net value of a contact = expected benefit - cost per contact. With risk
  ranking the benefit is churn probability x value at stake x ``save_rate`` (the share of would-be
  churners an offer is assumed to keep); with uplift ranking it is the modelled reduction of churn
  probability x value at stake. Customers with a positive net value are ranked, highest first.
* **Capacity.** ``capacity`` customers at most, and with a ``budget`` at most budget / cost per
  contact; capacity <= 0 is an error. ``control_share`` of the selected customers (default 20%) are
  held out (never contacted) to measure the campaign: the list holds both, the CRM gets the treated.
* **Assignment.** ``u = blake2b(campaign + ':' + customer id)`` as a fixed point in [0, 1); control
  when ``u < control_share``: the same customer is in the same group of a campaign on every run.
* **Cool-down.** Customers selected (treated or control) in the last ``cooldown_days`` days are not
  selected again: a treated customer is not contacted twice, a control customer stays unexposed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from churn_assets.core.data.errors import DataError
from churn_assets.core.data.synthetic import id_uniforms

LEVELS = ("low", "medium", "high")
TREATMENT, CONTROL = "treatment", "control"


@dataclass(frozen=True)
class CampaignConfig:
    name: str = "retention"
    capacity: int = 500
    budget: float = 0.0  # 0: no budget limit
    cost_per_contact: float = 5.0
    control_share: float = 0.2
    cooldown_days: int = 30
    save_rate: float = 0.3  # risk ranking: share of would-be churners an offer keeps (an assumption)

    def __post_init__(self):
        if self.capacity <= 0:
            raise DataError(f"capacity must be > 0, got {self.capacity}", source=f"campaign {self.name!r}",
                            column="capacity", rule="capacity > 0")
        if self.budget < 0 or self.cost_per_contact < 0:
            raise DataError("budget and cost per contact must be >= 0", source=f"campaign {self.name!r}",
                            rule="budget >= 0, cost_per_contact >= 0")
        if self.budget > 0 and self.cost_per_contact <= 0:
            raise DataError("a budget needs a cost per contact > 0", source=f"campaign {self.name!r}",
                            column="cost_per_contact", rule="cost_per_contact > 0 with a budget")
        if not 0 <= self.control_share < 1:
            raise DataError(f"control share must be in [0, 1), got {self.control_share}",
                            source=f"campaign {self.name!r}", column="control_share", rule="0 <= share < 1")

    def limit(self) -> int:
        """Most customers selected: the capacity, and the budget's worth of contacts when a budget is set."""
        if self.budget > 0:
            return max(0, min(self.capacity, int(self.budget // self.cost_per_contact)))
        return self.capacity


@dataclass(frozen=True)
class Cuts:
    risk: tuple[float, float]
    value: tuple[float, float]
    source: str = ""

    @staticmethod
    def terciles(risk: np.ndarray, value: np.ndarray, source: str) -> Cuts:
        r = np.quantile(np.asarray(risk, float), [1 / 3, 2 / 3])
        v = np.quantile(np.asarray(value, float), [1 / 3, 2 / 3])
        return Cuts((float(r[0]), float(r[1])), (float(v[0]), float(v[1])), source)

    def levels(self, p: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.searchsorted(self.risk, np.asarray(p, float), side="right"),
                np.searchsorted(self.value, np.asarray(v, float), side="right"))

    def as_dict(self) -> dict:
        return asdict(self)


def cell_names(risk_level: np.ndarray, value_level: np.ndarray) -> np.ndarray:
    names = np.array([f"{r} risk / {v} value" for r in LEVELS for v in LEVELS], dtype=object)
    return names[np.asarray(risk_level) * 3 + np.asarray(value_level)]


def assign(campaign: str, ids, control_share: float) -> np.ndarray:
    """``treatment`` / ``control`` per id: a hash of (campaign, customer id), stable across runs."""
    u = id_uniforms([str(i) for i in ids], f"assign-{campaign}")
    return np.where(u < control_share, CONTROL, TREATMENT)


@dataclass
class Targets:
    table: pd.DataFrame  # the list: one row per selected customer
    grid: pd.DataFrame  # 3x3 counts of the day's customers and of the selected
    counts: dict  # scored, eligible, cooled_down, not_worth_it, selected, treatment, control


def build_targets(scored: pd.DataFrame, cfg: CampaignConfig, cuts: Cuts, recently_selected: set[str] | None = None,
                  ranking: str = "risk") -> Targets:
    """The day's contact list. ``scored``: customer_id, churn_probability, value_at_stake and, for
    ``ranking="uplift"``, uplift (modelled reduction of churn probability)."""
    if ranking not in ("risk", "uplift"):
        raise ValueError(f"ranking {ranking!r}: use risk or uplift")
    df = scored.reset_index(drop=True)
    p = df["churn_probability"].to_numpy(float)
    v = df["value_at_stake"].to_numpy(float)
    rl, vl = cuts.levels(p, v)
    loss = p * v
    benefit = df["uplift"].to_numpy(float) * v if ranking == "uplift" else loss * cfg.save_rate
    net = benefit - cfg.cost_per_contact
    ids = df["customer_id"].astype(str).to_numpy()
    cooled = np.isin(ids, list(recently_selected)) if recently_selected else np.zeros(len(df), bool)
    worth = net > 0
    eligible = ~cooled & worth
    order = np.flatnonzero(eligible)[np.argsort(-net[eligible], kind="stable")][: cfg.limit()]
    out = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1), "customer_id": ids[order],
        "churn_probability": p[order], "value_at_stake": v[order], "expected_loss": loss[order],
        "expected_net_value": net[order], "risk_level": np.array(LEVELS, dtype=object)[rl[order]],
        "value_level": np.array(LEVELS, dtype=object)[vl[order]], "cell": cell_names(rl[order], vl[order]),
        "ranking": ranking, "campaign": cfg.name,
    })
    if ranking == "uplift":
        out.insert(5, "uplift", df["uplift"].to_numpy(float)[order])
    out["group"] = assign(cfg.name, out["customer_id"], cfg.control_share)
    all_cells = pd.Series(cell_names(rl, vl)).value_counts()
    sel_cells = out["cell"].value_counts()
    grid = pd.DataFrame([{"risk": r, "value": val, "customers": int(all_cells.get(f"{r} risk / {val} value", 0)),
                          "selected": int(sel_cells.get(f"{r} risk / {val} value", 0))}
                         for r in LEVELS for val in LEVELS])
    counts = {"scored": len(df), "cooled_down": int(cooled.sum()), "not_worth_it": int((~worth & ~cooled).sum()),
              "eligible": int(eligible.sum()), "selected": len(out),
              "treatment": int((out["group"] == TREATMENT).sum()), "control": int((out["group"] == CONTROL).sum()),
              "limit": cfg.limit()}
    return Targets(out, grid, counts)
