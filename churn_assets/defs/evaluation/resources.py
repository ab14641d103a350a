"""How model_evaluation segments the test split and how the model card computes its intervals."""

import dagster as dg


class EvaluationPolicy(dg.ConfigurableResource):
    segment_numeric: str = ""  # comma-separated extra numeric columns bucketed by quartile
    bootstrap: int = 200  # resamples behind the model card's confidence intervals (0: none)
    seed: int = 42

    def extra_numeric(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.segment_numeric.split(",") if c.strip())
