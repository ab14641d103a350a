"""Optuna study over several model families on a prepared feature matrix.

Features are fitted once on the training split and encoded once; trials then only fit
estimators, on a stratified sample of the training matrix, with k-fold CV and median pruning
per fold. Workers in other processes can share the study through any Optuna RDB storage (SQLite,
Postgres).

Selection (``choose``): the plain configurations of ``modeling.PLAIN`` are scored on the very same
folds as the trials and compete with the study's best trials; a tuned configuration ships only when
its selection score is strictly higher than every plain one's. The chosen configuration is then
refitted on the whole training split (and on train+validation for the final artifact).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import optuna
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from churn_assets.core.training.asset_values import TunedModel  # noqa: F401  (re-exported)
from churn_assets.core.training.metrics import RANKING_METRICS
from churn_assets.core.training.modeling import (
    FAMILIES,
    PLAIN,
    SMALL_DATA_ROWS,
    assemble,
    feature_steps,
    make_estimator,
    params_from_trial,
    suggest,
)
from churn_assets.core.training.splits import Splits
from churn_assets.model.contract import DataContract
from churn_assets.model.features import FeatureBuilder, MatrixEncoder

optuna.logging.set_verbosity(optuna.logging.WARNING)

METRICS: dict[str, Callable] = RANKING_METRICS


@dataclass
class TuningConfig:
    n_trials: int = 50
    cv_folds: int = 3
    sample_rows: int = 15_000  # rows of the training split the trials see (stratified sample)
    metric: str = "roc_auc"
    seed: int = 42
    families: tuple[str, ...] = FAMILIES
    threads: int = 0  # per-worker BLAS/OpenMP threads; 0 = library default
    timeout_s: float | None = None
    cv_repeats: int = 1  # repeats of the k-fold split; 0 = scaled to the tuning rows (see cv_repeats_for)
    plain_candidates: bool = True  # the plain configurations compete in the final choice
    rescore_top: int = 0  # re-score this many best trials (and the plain ones) on fresh folds before choosing
    sd_penalty: float = 0.0  # selection score = mean - sd_penalty * sd of the fold scores
    small_space: str = "off"  # small-data search space (modeling.suggest): "auto" below SMALL_DATA_ROWS, "on", "off"
    # A trial ships only when its mean gain over the best plain candidate, fold by fold on the same folds,
    # exceeds this many standard errors of that paired gain (0: any strictly better mean ships).
    min_gain_se: float = 1.0
    # When the trials saw a sample smaller than the training split, the chosen trial must also beat the best
    # plain configuration fitted on the whole training split and scored on the validation split.
    confirm_on_validation: bool = True


def cv_repeats_for(rows: int, cfg: TuningConfig) -> int:
    """Repeats of the stratified k-fold split: small data gets more (its fold scores are noisy, and its
    fits are cheap), so every trial sees about 20,000 held-out predictions, at most 3 repeats."""
    if cfg.cv_repeats:
        return cfg.cv_repeats
    return int(min(3, max(1, round(20_000 / max(rows, 1)))))


@dataclass
class TuningData:
    """The encoded training and validation rows in one matrix: the final refit on train+validation
    uses it as is, with no second full-size copy (at 10M customers that copy was 2 GB)."""

    builder: FeatureBuilder
    encoder: MatrixEncoder
    X: np.ndarray  # training rows, then validation rows
    y: np.ndarray
    n_train: int
    tune_index: np.ndarray  # rows of X_train used by trials
    folds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    @property
    def X_train(self) -> np.ndarray:
        return self.X[:self.n_train]

    @property
    def y_train(self) -> np.ndarray:
        return self.y[:self.n_train]

    @property
    def X_val(self) -> np.ndarray:
        return self.X[self.n_train:]

    @property
    def y_val(self) -> np.ndarray:
        return self.y[self.n_train:]


def prepare(splits: Splits, contract: DataContract, cfg: TuningConfig) -> TuningData:
    builder, encoder = feature_steps(contract)
    target = contract.target_column
    n_train = len(splits.train)
    train_features = builder.fit(splits.train).transform(splits.train)
    encoder.fit(train_features)
    X = np.empty((n_train + len(splits.val), len(encoder.get_feature_names_out())))
    encoder.encode_into(train_features, X[:n_train])
    del train_features
    encoder.encode_into(builder.transform(splits.val), X[n_train:])
    y = np.r_[splits.train[target].to_numpy(dtype=int), splits.val[target].to_numpy(dtype=int)]
    y_train = y[:n_train]
    idx = np.arange(n_train)
    if cfg.sample_rows and len(idx) > cfg.sample_rows:
        idx, _ = train_test_split(idx, train_size=cfg.sample_rows, stratify=y_train, random_state=cfg.seed)
        idx = np.sort(idx)
    return TuningData(builder, encoder, X, y, n_train, idx, make_folds(idx, y_train, cfg, cfg.seed))


def make_folds(idx: np.ndarray, y_train: np.ndarray, cfg: TuningConfig, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    repeats = cv_repeats_for(len(idx), cfg)
    skf = (StratifiedKFold(n_splits=cfg.cv_folds, shuffle=True, random_state=seed) if repeats == 1 else
           RepeatedStratifiedKFold(n_splits=cfg.cv_folds, n_repeats=repeats, random_state=seed))
    return [(idx[a], idx[b]) for a, b in skf.split(idx, y_train[idx])]


def _deterministic(est):
    """Fitted in parallel, predicted in one thread: a random forest's threads add the trees'
    probabilities in whatever order they finish, so the same seed gave scores that differed in the
    6th digit between runs (seen under load). One thread adds them in tree order."""
    if hasattr(est, "n_jobs"):
        est.n_jobs = 1
    return est


def fold_scores(family: str, params: dict, data: TuningData, cfg: TuningConfig,
                folds: Sequence[tuple[np.ndarray, np.ndarray]] | None = None) -> list[float]:
    """One configuration's score on each fold (the trials' folds unless ``folds`` is given)."""
    X, y = data.X_train, data.y_train
    return [fit_score(family, params, cfg, X[tr], y[tr], X[te], y[te]) for tr, te in (data.folds if folds is None else folds)]


def fit_score(family: str, params: dict, cfg: TuningConfig, X: np.ndarray, y: np.ndarray,
              X_eval: np.ndarray, y_eval: np.ndarray) -> float:
    """Fit one configuration on (X, y) and score it on the held-out rows with the study's metric."""
    est = _deterministic(make_estimator(family, params, seed=cfg.seed, n_jobs=cfg.threads or -1).fit(X, y))
    return float(METRICS[cfg.metric](y_eval, est.predict_proba(X_eval)[:, 1]))


def make_objective(data: TuningData, cfg: TuningConfig, worker: int = 0,
                   lineage: str = "") -> Callable[[optuna.Trial], float]:
    small = cfg.small_space == "on" or (cfg.small_space == "auto" and data.n_train < SMALL_DATA_ROWS)

    def objective(trial: optuna.Trial) -> float:
        # Tagged first: a trial left RUNNING by a killed worker is found by these two attributes.
        trial.set_user_attr("worker", worker)
        trial.set_user_attr(LINEAGE, lineage)
        family, params = suggest(trial, cfg.families, small=small)
        started = time.perf_counter()
        scores: list[float] = []
        X, y = data.X_train, data.y_train
        for k, (tr, te) in enumerate(data.folds):
            scores.append(fit_score(family, params, cfg, X[tr], y[tr], X[te], y[te]))
            trial.report(float(np.mean(scores)), k)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("fit_seconds", round(time.perf_counter() - started, 3))
        trial.set_user_attr("fold_scores", scores)
        return float(np.mean(scores))

    return objective


def open_study(storage, name: str, seed: int, worker: int = 0, direction: str = "maximize",
               resumed: int = 0) -> optuna.Study:
    """Create or join a study; each worker seeds its own TPE sampler so workers explore differently.

    ``resumed``: trials this worker's lineage already started (see ``own_trials``). It moves the seed, so
    a worker that resumes (a retry, a re-execution) does not replay the random start-up draws of the
    attempt it replaces; a fresh worker (0) keeps the plain ``seed + worker``.
    """
    return optuna.create_study(
        study_name=name, storage=storage, direction=direction, load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed + worker + 7919 * resumed, n_startup_trials=8),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )


# A study belongs to a run *lineage* (the root Dagster run and its retries and re-executions), so a
# resumed worker counts what its lineage already finished instead of starting its share again.
LINEAGE = "lineage"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _mine(t: optuna.trial.FrozenTrial, lineage: str, worker: int) -> bool:
    return t.user_attrs.get(LINEAGE) == lineage and t.user_attrs.get("worker") == worker


def fail_dead_trials(study: optuna.Study, lineage: str, worker: int) -> list[int]:
    """Mark FAIL the trials this worker's previous attempt left RUNNING (its process is gone: a worker
    index runs in one step at a time). Returns their numbers; they are never counted as done."""
    dead = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if _mine(t, lineage, worker)]
    for t in dead:  # (a finished trial takes no more attributes: the reason first)
        study._storage.set_trial_system_attr(t._trial_id, "fail_reason", "worker process died (resumed run)")
        study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    return [t.number for t in dead]


def own_trials(study: optuna.Study, lineage: str, worker: int) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if _mine(t, lineage, worker)]


def finished_trials(study: optuna.Study, lineage: str, worker: int) -> list[int]:
    return [t.number for t in own_trials(study, lineage, worker) if t.state in FINISHED]


def run_trials(study: optuna.Study, data: TuningData, cfg: TuningConfig, n_trials: int,
               callbacks: Sequence[Callable] = (), worker: int = 0, lineage: str = "") -> int:
    """Run ``n_trials`` trials in this process; returns how many ran."""
    before = len(study.get_trials(deepcopy=False))
    if n_trials <= 0:
        return 0
    limits = {"limits": cfg.threads} if cfg.threads else {"limits": None}
    with threadpool_limits(**limits):
        study.optimize(make_objective(data, cfg, worker, lineage), n_trials=n_trials, timeout=cfg.timeout_s,
                       callbacks=list(callbacks), gc_after_trial=False)
    return len(study.get_trials(deepcopy=False)) - before


@dataclass
class Choice:
    """The configuration to ship and the candidates it was chosen from (best first)."""

    family: str
    params: dict
    source: str  # "trial 17" or a name of modeling.PLAIN
    score: float  # selection score: mean - sd_penalty * sd of its fold scores
    cv_mean: float
    candidates: list[dict] = field(default_factory=list)

    @property
    def is_plain(self) -> bool:
        return self.source in PLAIN


def _candidate(source: str, family: str, params: dict, scores: list[float], cfg: TuningConfig) -> dict:
    mean, sd = float(np.mean(scores)), float(np.std(scores))
    return {"source": source, "family": family, "params": dict(params), "cv_mean": mean, "cv_sd": sd,
            "folds": len(scores), "score": mean - cfg.sd_penalty * sd, "fold_scores": [float(x) for x in scores]}


def paired_gain(scores: Sequence[float], reference: Sequence[float]) -> tuple[float, float]:
    """Mean of ``scores - reference`` fold by fold and its standard error (both scored on the same folds).

    Fold scores that cannot be paired (different counts, or a single fold) give the difference of the
    means and a standard error of 0."""
    a, b = np.asarray(scores, dtype=float), np.asarray(reference, dtype=float)
    if len(a) != len(b) or len(a) < 2:
        return float(a.mean() - b.mean()), 0.0
    d = a - b
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def _rank(cands: list[dict]) -> None:
    """Eligible first, then by score; plain candidates were added first and the sort is stable, so on a
    tie the plain configuration wins."""
    cands.sort(key=lambda c: (not c["eligible"], -c["score"]))


def _gate(cands: list[dict], ref: dict | None, cfg: TuningConfig) -> None:
    """Mark each candidate ``eligible``: the plain ones always; a trial when its selection score beats the
    best plain candidate's (``ref``) and its paired fold gain over it exceeds ``min_gain_se`` standard
    errors (the one-standard-error rule: a gain the folds cannot tell from noise does not replace the plain
    model)."""
    for c in cands:
        if ref is None or c["source"] in PLAIN:
            c.update(gain_vs_plain=None, gain_se=None, eligible=True)
            continue
        gain, se = paired_gain(c["fold_scores"], ref["fold_scores"])
        c.update(gain_vs_plain=gain, gain_se=se,
                 eligible=bool(c["score"] > ref["score"] and gain > cfg.min_gain_se * se))


def _confirm_on_validation(cands: list[dict], ref: dict, data: TuningData, cfg: TuningConfig) -> None:
    """The trials were scored on a sample of the training split, and the configuration that wins on a
    sample need not win on all of it (the plain boosting did better than the sample's winner on the full
    synthetic default). The leading trial and the best plain candidate (``ref``) are fitted on the whole
    training split and scored on the validation split; the trial keeps the lead only with the higher
    score there."""
    for c in (cands[0], ref):
        c["val_score"] = fit_score(c["family"], c["params"], cfg, data.X_train, data.y_train, data.X_val, data.y_val)
    if cands[0]["val_score"] <= ref["val_score"]:
        cands[0]["eligible"] = False
        _rank(cands)


def choose(study: optuna.Study, data: TuningData, cfg: TuningConfig) -> Choice:
    """The configuration to ship: the best of the study's top trials that beats the best plain configuration
    on the same folds by more than ``min_gain_se`` standard errors of the paired fold gain, else that plain
    configuration (``rescore_top`` > 0: the best trials and the plain ones are scored again on fresh
    folds, so the winner of many trials is not favoured by its own lucky folds). When the trials saw a
    sample of the training split, the winning trial must also win on the validation split
    (``confirm_on_validation``)."""
    complete = sorted((t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))),
                      key=lambda t: -t.value)
    plain = list(PLAIN.items()) if cfg.plain_candidates else []
    if cfg.rescore_top:
        # Fresh folds (another seed), repeated: at least 3 x k held-out scores per candidate.
        fresh = make_folds(data.tune_index, data.y_train,
                           replace(cfg, cv_repeats=max(3, cv_repeats_for(len(data.tune_index), cfg))), cfg.seed + 1)
        cands = [_candidate(name, fam, p, fold_scores(fam, p, data, cfg, fresh), cfg) for name, (fam, p) in plain]
        for t in complete[:cfg.rescore_top]:
            fam, p = params_from_trial(t.params)
            cands.append(_candidate(f"trial {t.number}", fam, p, fold_scores(fam, p, data, cfg, fresh), cfg))
    else:
        cands = [_candidate(name, fam, p, fold_scores(fam, p, data, cfg), cfg) for name, (fam, p) in plain]
        for t in complete[:5]:
            fam, p = params_from_trial(t.params)
            scores = t.user_attrs.get("fold_scores") or [t.value]
            cands.append(_candidate(f"trial {t.number}", fam, p, scores, cfg))
    if not cands:
        raise ValueError("no completed trial and no plain candidate to choose from")
    ref = max((c for c in cands if c["source"] in PLAIN), key=lambda c: c["score"], default=None)
    _gate(cands, ref, cfg)
    _rank(cands)
    if (ref is not None and cfg.confirm_on_validation and cands[0]["source"] not in PLAIN
            and len(data.tune_index) < data.n_train):
        _confirm_on_validation(cands, ref, data, cfg)
    best = cands[0]
    return Choice(best["family"], best["params"], best["source"], best["score"], best["cv_mean"], cands)


def refit_best(study: optuna.Study, data: TuningData, cfg: TuningConfig, include_val: bool = False):
    """Refit the best trial's configuration on the training split (plus validation if asked)."""
    family, params = params_from_trial(study.best_trial.params)
    return refit(family, params, data, cfg, include_val)


def refit(family: str, params: dict, data: TuningData, cfg: TuningConfig, include_val: bool = False):
    """Fit ``family``/``params`` on the training split (plus validation if asked) into the one Pipeline.

    The threshold is chosen on validation with the train-only fit; the final artifact may then be
    refitted on train+validation (more data, same configuration; the test split stays untouched).
    """
    X, y = (data.X, data.y) if include_val else (data.X_train, data.y_train)
    est = make_estimator(family, params, seed=cfg.seed, n_jobs=-1)
    est.fit(X, y)
    if hasattr(est, "n_jobs"):
        # Predict single-threaded: deterministic sums, and no thread pool per (tiny) serving call.
        est.n_jobs = 1
    return assemble(data.builder, data.encoder, est), family, params


def trial_counts(study: optuna.Study) -> dict[str, int]:
    states = [t.state.name.lower() for t in study.get_trials(deepcopy=False)]
    counts = {s: states.count(s) for s in ("complete", "pruned", "fail")}
    return counts | {"finished": counts["complete"] + counts["pruned"], "total": len(states)}
