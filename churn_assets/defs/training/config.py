"""Typed run configuration of the training assets."""


import dagster as dg

from churn_assets.core.training.asset_values import FAMILIES


class SplitConfig(dg.Config):
    seed: int = 42
    val_share: float = 0.15
    test_share: float = 0.15


class TuningRunConfig(dg.Config):
    n_trials: int = 50
    workers: int = 1  # parallel trial workers sharing one study (fan-out)
    cv_folds: int = 3
    sample_rows: int = 15_000
    metric: str = "roc_auc"  # or average_precision
    families: list[str] = list(FAMILIES)
    seed: int = 42
    threads_per_worker: int = 0  # 0: library default (all cores)
    study_name: str = ""  # empty: one new study per Dagster run
    threshold_strategy: str = "f1"  # or "cost"
    refit_on_train_val: bool = True  # final fit on train+validation once threshold and params are chosen
    cost_missed_churner: float = 5.0
    cost_false_alarm: float = 1.0
    cv_repeats: int = 1  # repeats of the k-fold split (0: scaled to the tuning rows)
    plain_candidates: bool = True  # plain configurations compete in the final choice (never worse than plain)
    rescore_top: int = 0  # re-score this many best trials and the plain configurations on fresh folds
    sd_penalty: float = 0.0  # choose on mean - sd_penalty * sd of the fold scores
    small_space: str = "off"  # small-data boosting search space: "auto" (training split < 20,000 rows), "on", "off"
    min_gain_se: float = 1.0  # a trial ships only when its paired fold gain over plain exceeds this many SEs
    confirm_on_validation: bool = True  # tuned on a sample: the trial must also beat plain on validation

    def core(self):
        from churn_assets.core.training.tuning import TuningConfig

        return TuningConfig(n_trials=self.n_trials, cv_folds=self.cv_folds, sample_rows=self.sample_rows,
                            metric=self.metric, seed=self.seed, families=tuple(self.families),
                            threads=self.threads_per_worker, cv_repeats=self.cv_repeats,
                            plain_candidates=self.plain_candidates, rescore_top=self.rescore_top,
                            sd_penalty=self.sd_penalty, small_space=self.small_space,
                            min_gain_se=self.min_gain_se, confirm_on_validation=self.confirm_on_validation)
