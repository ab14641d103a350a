"""tuned_model: an Optuna study fanned out over trial workers that share one study storage.

prepare_tuning -> tune_worker x N (dynamic, parallel under the multiprocess executor) ->
select_model. Workers join the same study through the Optuna storage resource (SQLite
locally, Postgres in production), so every trial is counted exactly once.
"""


import copy
import time
from dataclasses import dataclass

import dagster as dg

# Imported with the definitions, not first inside a step: optuna keeps the ImportError of each
# optional backend it probes (redis, ...) with its traceback, and so every frame of the stack that
# first imported it. Inside a step that stack held the step's DataFrames for the rest of the process
# (found at 10M customers; test_memory.py checks that no step output outlives a run).
import optuna
import pandas as pd

from churn_assets.core.training.asset_values import FAMILIES, Splits, TunedModel
from churn_assets.core.training.memory import release_memory
from churn_assets.defs.common.build import Build
from churn_assets.defs.common.mlflow import MlflowResource
from churn_assets.defs.common.services import explains_outages
from churn_assets.defs.training.config import TuningRunConfig
from churn_assets.defs.training.resources import OptunaStorage
from churn_assets.model.contract import DataContract
from churn_assets.model.pseudonym import IdHashing

CODE_VERSION = "2"  # bump by hand when what this module's assets compute changes (defs/common/policies.py)


@dataclass
class TuningSetup:
    data: object  # core.tuning.TuningData (optuna/sklearn are imported inside the ops)
    cfg: TuningRunConfig
    contract: DataContract
    study_name: str
    mlflow_run_id: str  # the MLflow run of the Dagster run that prepared the study
    experiment_id: str
    params: dict
    # What select_model needs of the raw splits, so it never loads them (at 10M customers, 3 GB):
    example: object = None  # pandas: 5 raw validation rows, the logged model's signature
    reference: object = None  # pandas: up to 10,000 raw training rows, the model's drift reference
    roster: object = None  # pseudonyms of the customers the model is fitted on (forget lists the models)


def lineage(context) -> str:
    """The root Dagster run: a re-execution (from failure, in the UI or the API) and retries share it, and
    with it the study and each worker's trial count."""
    return context.run.root_run_id or context.run.run_id


def _resumed_mlflow_run(mlflow: MlflowResource, context, setup: TuningSetup) -> str:
    """This Dagster run's MLflow run; a re-execution gets its own (the killed run's stays FAILED), with
    the study's parameters logged again so it is complete on its own."""
    from mlflow.entities import Param

    run_id = mlflow.run_id_for(context)
    if run_id != setup.mlflow_run_id:
        params = {**setup.params, "resumed_from_mlflow_run": setup.mlflow_run_id}
        existing = mlflow.client().get_run(run_id).data.params
        todo = [Param(k, str(v)) for k, v in params.items() if k not in existing]
        if todo:
            mlflow.client().log_batch(run_id, params=todo)
    return run_id


def _share(cfg, worker: int) -> int:
    return cfg.n_trials // cfg.workers + (1 if worker < cfg.n_trials % cfg.workers else 0)


def run_share(context, setup: TuningSetup, worker: int, mlflow: MlflowResource, optuna_storage: OptunaStorage) -> dict:
    """Worker ``worker``'s share of the study's trials, minus what its lineage already finished."""
    from churn_assets.core.training import tracking, tuning

    cfg, root = setup.cfg, lineage(context)
    share = _share(cfg, worker)
    storage = optuna_storage.storage()
    study = tuning.open_study(storage, setup.study_name, cfg.seed, worker=worker)
    # Resuming (a retry of this step, or a re-execution of the run): the previous attempt's process is
    # gone, so its RUNNING trials are dead; finished trials count toward this worker's share.
    dead = tuning.fail_dead_trials(study, root, worker)
    done = tuning.finished_trials(study, root, worker)
    started_before = len(tuning.own_trials(study, root, worker))
    if started_before:
        study = tuning.open_study(storage, setup.study_name, cfg.seed, worker=worker, resumed=started_before)
        context.log.info(f"worker {worker} resumes study {setup.study_name}: {len(done)} trial(s) kept "
                         f"{done}, {len(dead)} left running by a dead process marked FAIL {dead}, "
                         f"{max(share - len(done), 0)} to run")
    mlflow_run_id = _resumed_mlflow_run(mlflow, context, setup)
    client = mlflow.client()
    numbers: list[int] = []

    def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        numbers.append(trial.number)
        status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(trial.state.name, "FAILED")
        folds = {f"cv_fold_{k}_mean": v for k, v in trial.intermediate_values.items()}
        tracking.log_child(client, setup.experiment_id, mlflow_run_id, f"trial-{trial.number}",
                           params=trial.params, metrics={f"cv_{cfg.metric}": trial.value, **folds},
                           tags={"optuna.state": trial.state.name, "optuna.worker": worker,
                                 "optuna.study": setup.study_name,
                                 tracking.NOTE: tracking.trial_note(trial.number, trial.params, cfg.metric, trial.value,
                                                                    trial.state.name, setup.study_name)},
                           status=status)

    started = time.perf_counter()
    with mlflow.failing(mlflow_run_id):
        if done:  # a trial finished just before an outage may have missed its MLflow child run
            logged = {r.info.run_name for r in client.search_runs(
                [setup.experiment_id], f"tags.`optuna.study` = '{setup.study_name}'")}
            for t in tuning.own_trials(study, root, worker):
                if t.number in done and f"trial-{t.number}" not in logged:
                    log_trial(study, t)
            numbers.clear()
        tuning.run_trials(study, setup.data, cfg.core(), share - len(done), callbacks=[log_trial],
                          worker=worker, lineage=root)
    elapsed = time.perf_counter() - started
    context.log.info(f"worker {worker}: {len(numbers)} trials in {elapsed:.1f}s")
    return {"worker": worker, "trials": done + numbers, "ran": numbers, "kept": done, "failed_dead": dead,
            "seconds": elapsed}


def selection_markdown(candidates: list[dict]) -> str:
    """The candidates of the final choice (best first) as a small table, rounded to 4 digits."""
    import pandas as pd

    if not candidates:
        return "none"
    rows = [{"candidate": c["source"], "family": c["family"], "cv_mean": round(c["cv_mean"], 4),
             "cv_sd": round(c["cv_sd"], 4), "folds": c["folds"], "score": round(c["score"], 4),
             "gain_vs_plain": "-" if c.get("gain_vs_plain") is None else f"{c['gain_vs_plain']:+.4f}",
             "gain_se": "-" if c.get("gain_se") is None else round(c["gain_se"], 4),
             "validation": "-" if c.get("val_score") is None else round(c["val_score"], 4),
             "eligible": "yes" if c.get("eligible", True) else "no"} for c in candidates]
    return pd.DataFrame(rows).to_markdown(index=False)


def build(b: Build) -> list[dg.AssetsDefinition]:
    @dg.op(out={"setup": dg.Out(), "workers": dg.DynamicOut(int)}, retry_policy=b.retry)
    @explains_outages
    def prepare_tuning(context: dg.OpExecutionContext, config: TuningRunConfig, training_splits: Splits,
                       data_contract: DataContract, mlflow: MlflowResource, optuna_storage: OptunaStorage,
                       id_hashing: dg.ResourceParam[IdHashing]):
        release_memory()  # the previous step's data is garbage now (core/training/memory.py)
        from mlflow.entities import Param

        from churn_assets.core.training import tuning

        if config.workers < 1 or config.n_trials < 1:
            raise dg.Failure(f"workers ({config.workers}) and n_trials ({config.n_trials}) must be >= 1", allow_retries=False)
        unknown = set(config.families) - set(FAMILIES)
        if unknown:
            raise dg.Failure(f"unknown model families {sorted(unknown)}; known: {list(FAMILIES)}", allow_retries=False)
        if config.small_space not in ("auto", "on", "off"):
            raise dg.Failure(f"small_space must be auto, on or off, not {config.small_space!r}", allow_retries=False)
        run_id = mlflow.run_id_for(context)
        data = tuning.prepare(training_splits, data_contract, config.core())
        study_name = config.study_name or f"churn-{lineage(context)}"
        tuning.open_study(optuna_storage.storage(), study_name, config.seed)  # create before workers race
        params = {**config.model_dump(), "dataset": data_contract.dataset, "study_name": study_name}
        mlflow.client().log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        context.log.info(f"study {study_name}: {config.n_trials} trials over {config.workers} worker(s), "
                         f"{len(data.tune_index):,} tuning rows x {data.X_train.shape[1]} features")
        reference = training_splits.train.sample(min(len(training_splits.train), 10_000), random_state=config.seed)
        fitted = [training_splits.train] + ([training_splits.val] if config.refit_on_train_val else [])
        roster = id_hashing.ring().many(pd.concat([f[data_contract.id_column] for f in fitted]).astype(str))
        yield dg.Output(TuningSetup(data, config, data_contract, study_name, run_id, mlflow.experiment_id(), params,
                                    example=training_splits.val.head(5), reference=reference, roster=roster),
                        output_name="setup")
        for w in range(config.workers):
            yield dg.DynamicOutput(w, mapping_key=f"worker_{w}", output_name="workers")

    @dg.op(retry_policy=b.retry)  # also a crashed (killed) worker: the retry resumes the study
    @explains_outages
    def tune_worker(context: dg.OpExecutionContext, setup: TuningSetup, worker: int,
                    mlflow: MlflowResource, optuna_storage: OptunaStorage) -> dict:
        release_memory()  # the previous step's data is garbage now (core/training/memory.py)
        return run_share(context, setup, worker, mlflow, optuna_storage)

    @dg.op(retry_policy=b.retry)
    @explains_outages
    def select_model(context: dg.OpExecutionContext, setup: TuningSetup, worker_results: list,
                     mlflow: MlflowResource, optuna_storage: OptunaStorage):
        release_memory()  # the previous step's data is garbage now (core/training/memory.py)

        from churn_assets.core.evaluation.baselines import fit_plain
        from churn_assets.core.training import tuning
        from churn_assets.core.training.metrics import choose_threshold, classification_metrics
        from churn_assets.core.training.model_logging import log_pipeline

        cfg, data, contract = setup.cfg, setup.data, setup.contract
        study = optuna.load_study(study_name=setup.study_name, storage=optuna_storage.storage())
        # Dagster's re-execution from failure does not re-run a mapped worker that never started (measured:
        # Postgres down 20 s killed worker 0 before worker 1 started; only worker 0 re-ran). The total is
        # the invariant: a worker short of its share is finished here.
        for w in range(cfg.workers):
            missing = _share(cfg, w) - len(tuning.finished_trials(study, lineage(context), w))
            if missing > 0:
                context.log.warning(f"worker {w} is {missing} trial(s) short (it never ran in this lineage): "
                                    "running them here")
                worker_results = [*worker_results, run_share(context, setup, w, mlflow, optuna_storage)]
        counts = tuning.trial_counts(study)
        if counts["complete"] == 0:
            raise dg.Failure(f"no trial of study {setup.study_name} completed: {counts}", allow_retries=False)
        mlflow_run_id = _resumed_mlflow_run(mlflow, context, setup)
        with mlflow.step(context) as _:
            # The study's best trials and the plain configurations, on the same folds (never worse than plain).
            choice = tuning.choose(study, data, cfg.core())
            family, params = choice.family, choice.params
            pipeline, _, _ = tuning.refit(family, params, data, cfg.core())
            # The encoded validation rows are what the Pipeline computes from the raw ones (same fitted steps).
            p_val = pipeline[-1].predict_proba(data.X_val)[:, 1]
            y_val = data.y_val
            threshold = choose_threshold(y_val, p_val, cfg.threshold_strategy,
                                         cfg.cost_missed_churner, cfg.cost_false_alarm)
            val_scores = classification_metrics(y_val, p_val, threshold)
            # Plain references on exactly the rows the shipped Pipeline is fitted on, same feature steps.
            X, y = (data.X, data.y) if cfg.refit_on_train_val else (data.X_train, data.y_train)
            baselines = fit_plain(X, y, data.builder, data.encoder, seed=cfg.seed)
            if choice.is_plain:  # the plain configuration won: its reference fit is the artifact (same fit)
                pipeline = copy.deepcopy(baselines[choice.source])
            elif cfg.refit_on_train_val:
                pipeline, _, _ = tuning.refit(family, params, data, cfg.core(), include_val=True)
            model = TunedModel(
                pipeline=pipeline, family=family, params=params, threshold=threshold, contract=contract,
                val_scores=val_scores, study_name=setup.study_name, best_cv_score=choice.cv_mean,
                trials=counts, mlflow_run_id=mlflow_run_id, baselines=baselines, selected_from=choice.source,
                selection=choice.candidates,
            )
            model.model_uri = log_pipeline(model, setup.example, setup.reference, setup.roster)
        seconds = sum(r["seconds"] for r in worker_results)
        context.add_output_metadata({
            "family": family,
            "params": dg.MetadataValue.json({k: v for k, v in params.items()}),
            "threshold": threshold,
            "threshold_strategy": cfg.threshold_strategy,
            f"best_cv_{cfg.metric}": float(study.best_value),
            f"chosen_cv_{cfg.metric}": choice.cv_mean,
            "selected_from": choice.source,
            "selection": dg.MetadataValue.md(selection_markdown(choice.candidates)),
            "val_roc_auc": val_scores["roc_auc"],
            "val_f1": val_scores["f1"],
            **{f"trials_{k}": v for k, v in counts.items()},
            "workers": cfg.workers,
            "worker_seconds": seconds,
            "study": setup.study_name,
            "model_uri": model.model_uri,
            "trials_kept_from_earlier_attempts": sum(len(r.get("kept", [])) for r in worker_results),
            "mlflow_run": dg.MetadataValue.url(mlflow.run_url(mlflow_run_id)),
        })
        return model

    @dg.graph_asset(
        group_name="training",
        kinds={"optuna", "mlflow", "scikit-learn"},
        code_version=CODE_VERSION,
        description="Optuna-tuned Pipeline (features + encoder + best model family) with its decision threshold; "
                    "plain configurations compete in the final choice on the same folds (never worse than plain), "
                    "and plain reference Pipelines are fitted on the same rows for model_evaluation; "
                    "trials logged to MLflow as child runs of the Dagster run's MLflow run.",
        config=dg.ConfigMapping(config_fn=lambda cfg: {"prepare_tuning": {"config": cfg}},
                                config_schema=TuningRunConfig.to_config_schema()),
    )
    def tuned_model(training_splits, data_contract):
        setup, workers = prepare_tuning(training_splits, data_contract)
        results = workers.map(lambda w: tune_worker(setup, w))
        return select_model(setup, results.collect())

    return [tuned_model]
