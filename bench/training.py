"""`make bench`: training-side speed, each compared with a baseline in the same run.

1. The whole graph (raw -> registered champion -> Bento) on 100,000 synthetic customers, 50
   trials, in-process: seconds against the 3-minute target, and per-asset step times.
2. Tuning throughput: this project's study (three families, CV on a stratified sample, median
   pruning, features encoded once) vs the seed's recipe (random forest, the seed's search space,
   5-fold CV per trial, no pruning), same data, same number of trials: trials/minute ratio and
   validation ROC-AUC of each refitted winner.
3. Drift report on 100,000 rows x every model feature + the score: sampled (the default) vs
   unsampled Evidently, same data.
4. Distributed tuning: 1 worker (all cores) vs 2 workers (1 thread each) sharing one Optuna study,
   Dagster's multiprocess executor, same trials.
5. The loop that learns, over 3 seeds: the demo's loop (train, score shifted days, outcomes arrive,
   the retrain sensor's one retrain on the labelled window) with the stale champion as the same-run
   baseline: ROC-AUC gain on the post-shift time holdout and change on pre-shift data.
5b. The degradation rule (section "loop" too): 20 simulated days of 500 outcomes without a change
   (false alarms: at most one day flagged) and the detection delay after an abrupt and a gradual
   change, against the point rule of before; JSON also in bench/results/loop.json.
6. Scale (bench/scale.py): the graph at 1M and 10M customers, each in a fresh child process,
   wall time and peak RSS per step against the targets (1M: < 200 s, < 3.5 GB; 10M: < 25 min,
   < 16 GB).
7. Scoring at scale (bench/scoring_scale.py): one daily partition of 1M and 10M customers through
   the real churn_scoring job (validation to Parquet, chunked compiled scoring, bulk write, drift),
   rows/s and peak RSS against the targets (>= 300,000 rows/s, < 2 GB, drift < 15 s), with the
   same-run baseline of scikit-learn's predict_proba against the compiled ensemble.
8. Model quality (bench/quality.py): the tuned model against the plain baselines over 5 random
   stratified splits of the bank file (when present) and the synthetic default: mean and sd of the
   test ROC-AUC difference, wall time per run (also bench/results/quality.json).
9. Quality ceiling (bench/quality_ceiling.py): on the same bank splits, the best margin over the
   plain baseline that any configuration of each model class reaches when chosen on the test rows
   themselves (an upper bound on what tuning can earn), and the best rank blend.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import pandas as pd

from bench.common import cpu_calibration, isolated_home, table, write


def whole_graph(rows: int, trials: int) -> dict:
    import dagster as dg

    from churn_assets.local import runs

    with dg.instance_for_test() as instance:
        t0 = time.perf_counter()
        res = runs.train(trials, instance, rows=rows)
        seconds = time.perf_counter() - t0
        steps = {}
        for e in res.all_events:
            if e.event_type_value == "STEP_SUCCESS":
                steps[e.step_key] = e.event_specific_data.duration_ms / 1000
        ev = res.output_for_node("model_evaluation")["metrics"]
    graph_steps = {k: v for k, v in steps.items() if not k.startswith("churn_bento")}
    return {"seconds": seconds, "success": res.success, "steps": steps,
            "seconds_through_evaluation_and_registry": sum(graph_steps.values()),
            "test_roc_auc": ev["roc_auc"], "test_f1": ev["f1"]}


def tuning_throughput(rows: int, trials: int) -> dict:
    import numpy as np
    import optuna
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_score

    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets.core.data.sources import load_raw
    from churn_assets.core.data.spec import synthetic_spec
    from churn_assets.core.data.validation import validate
    from churn_assets.core.training import tuning
    from churn_assets.core.training.splits import split

    spec = synthetic_spec(rows=rows)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    splits = split(validate(raw, contract).clean, contract.target_column, contract.id_column)
    cfg = tuning.TuningConfig(n_trials=trials)
    data = tuning.prepare(splits, contract, cfg)  # same features for both recipes

    t0 = time.perf_counter()
    ours = tuning.open_study("sqlite:///" + tempfile.mktemp(suffix=".db"), "ours", cfg.seed)
    tuning.run_trials(ours, data, cfg, trials)
    ours_s = time.perf_counter() - t0
    pipe, family, _ = tuning.refit_best(ours, data, cfg)
    ours_auc = roc_auc_score(data.y_val, pipe[-1].predict_proba(data.X_val)[:, 1])

    def seed_objective(trial):  # the seed's recipe, verbatim in spirit
        params = {"n_estimators": trial.suggest_categorical("n_estimators", [50, 100, 200, 300, 500]),
                  "max_depth": trial.suggest_categorical("max_depth", [3, 5, 7, 10, 15, 20]),
                  "min_samples_split": trial.suggest_categorical("min_samples_split", [2, 5, 10, 15, 20]),
                  "min_samples_leaf": trial.suggest_categorical("min_samples_leaf", [1, 2, 4, 6, 8, 10]),
                  "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2"])}
        model = RandomForestClassifier(**params, class_weight="balanced", random_state=42, n_jobs=-1)
        return float(np.mean(cross_val_score(model, data.X_train, data.y_train, cv=5, scoring="f1")))

    t0 = time.perf_counter()
    seed = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=42))
    seed.optimize(seed_objective, n_trials=trials)
    seed_s = time.perf_counter() - t0
    rf = RandomForestClassifier(**seed.best_params, class_weight="balanced", random_state=42, n_jobs=-1)
    seed_auc = roc_auc_score(data.y_val, rf.fit(data.X_train, data.y_train).predict_proba(data.X_val)[:, 1])
    return {"rows": rows, "trials": trials,
            "ours": {"seconds": ours_s, "trials_per_min": trials / ours_s * 60, "val_roc_auc": ours_auc,
                     "family": family, "counts": tuning.trial_counts(ours)},
            "seed": {"seconds": seed_s, "trials_per_min": trials / seed_s * 60, "val_roc_auc": seed_auc},
            "throughput_ratio": seed_s / ours_s, "auc_delta": ours_auc - seed_auc}


def drift_speed(rows: int) -> dict:
    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets.core.data.spec import synthetic_spec
    from churn_assets.core.data.synthetic import generate_customers
    from churn_assets.core.monitoring import drift
    from churn_assets.core.training.modeling import feature_steps

    ref_raw = generate_customers(rows, seed=1)
    cur_raw = generate_customers(rows, seed=2, shift="engagement_drop")
    builder, _ = feature_steps(resolve_contract(synthetic_spec(), ref_raw))
    builder.fit(ref_raw)
    ref, cur = builder.transform(ref_raw), builder.transform(cur_raw)
    ref["prediction"], cur["prediction"] = ref_raw["total_spent"].rank(pct=True), cur_raw["total_spent"].rank(pct=True)
    cols = builder.numeric_features_ + ["prediction"]
    import evidently  # noqa: F401  (import cost is paid once by a worker; not part of either run)

    out = {"rows": rows, "columns": len(cols)}
    for name, sample in (("sampled_10k", 10_000), ("unsampled", 0)):
        t0 = time.perf_counter()
        res = drift.detect(ref, cur, cols, sample_rows=sample)
        out[name] = {"seconds": time.perf_counter() - t0, "drift_detected": res.drift_detected,
                     "drifted_share": res.drifted_share}
    out["speedup"] = out["unsampled"]["seconds"] / out["sampled_10k"]["seconds"]
    return out


def distributed(rows: int, trials: int) -> dict:
    import dagster as dg

    from churn_assets.local.reconstructable import job
    from churn_assets.local.runs import multiprocess

    os.environ["CHURN_SYNTHETIC_ROWS"] = str(rows)  # the step processes of execute_job read it
    selection = [dg.AssetKey(k) for k in ("raw_customers", "data_contract", "clean_customers",
                                          "quarantined_customers", "training_data", "time_holdout",
                                          "customer_features", "training_splits", "tuned_model")]
    out = {"rows": rows, "trials": trials}
    for workers, threads in ((1, 0), (2, 1)):
        with dg.instance_for_test() as instance:
            cfg = {"ops": {"tuned_model": {"config": {"n_trials": trials, "workers": workers,
                                                      "threads_per_worker": threads}}},
                   "execution": {"config": multiprocess(max_concurrent=2)}}
            with dg.execute_job(job("churn_training"), instance=instance, run_config=cfg,
                                asset_selection=selection) as res:
                assert res.success
                starts, ends = [], []
                for rec in instance.all_logs(res.run_id):
                    ev = rec.dagster_event
                    if ev and ev.step_key and ev.step_key.startswith("tuned_model.tune_worker["):
                        (starts if ev.event_type_value == "STEP_START" else ends if
                         ev.event_type_value == "STEP_SUCCESS" else []).append(rec.timestamp)
        out[f"{workers}_worker"] = {"tuning_wall_s": max(ends) - min(starts), "threads_per_worker": threads or "all"}
    out["speedup"] = out["1_worker"]["tuning_wall_s"] / out["2_worker"]["tuning_wall_s"]
    return out


def learning_loop(seeds=(1, 2, 3), rows: int = 30_000, batch_rows: int = 3_000, trials: int = 8) -> dict:
    import dagster as dg
    import numpy as np

    from churn_assets.core.data.synthetic import DEFAULT_AS_OF, generate_customers
    from churn_assets.core.registry import model_registry as registry
    from churn_assets.core.training import tracking
    from churn_assets.local import runs
    from churn_assets.model.settings import Settings
    from churn_assets.sim.loop import monitoring_loop

    out: dict = {"rows": rows, "batch_rows": batch_rows, "trials": trials, "seeds": {}}
    for seed in seeds:
        home = tempfile.mkdtemp(prefix=f"bench-loop-{seed}-")
        os.environ.update({"CHURN_HOME": home, "CHURN_SEED": str(seed), "CHURN_BATCH_ROWS": str(batch_rows)})
        t0 = time.perf_counter()
        with dg.instance_for_test() as instance:
            assert runs.train(trials, instance, rows=rows).success
            reg = monitoring_loop(instance, Settings(), trials=trials, rows=rows, serve=False, echo=lambda *_: None)
            reg = reg["decision"]
        # Pre-shift data neither model trained on: a fresh unshifted population at the base as-of date.
        pre = generate_customers(10_000, seed=10_000 + seed, as_of=DEFAULT_AS_OF, id_prefix="PRE")
        pre = pre.assign(churn=pre["churn"].astype(int))
        tracking.client(Settings().mlflow_tracking_uri)
        pre_auc = {who: registry.score(f"models:/{reg['name']}/{v}", pre, "churn", "roc_auc")
                   for who, v in (("stale", reg["previous_champion"]), ("retrained", reg["version"]))}
        out["seeds"][seed] = {"post_stale": reg["recent_champion"], "post_retrained": reg["recent_challenger"],
                              "post_gain": reg["recent_challenger"] - reg["recent_champion"],
                              "pre_stale": pre_auc["stale"], "pre_retrained": pre_auc["retrained"],
                              "pre_change": pre_auc["retrained"] - pre_auc["stale"], "promoted": reg["promoted"],
                              "seconds": time.perf_counter() - t0}
    for key in ("post_gain", "pre_change"):
        vals = np.array([r[key] for r in out["seeds"].values()])
        out[key] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)), "min": float(vals.min()),
                    "max": float(vals.max())}
    return out


def degradation_alarms(seeds=(1, 2, 3), days: int = 20, day_rows: int = 500, train_rows: int = 20_000) -> dict:
    """The degradation rule (core/monitoring/performance.py) on simulated days of ``day_rows`` outcomes
    scored by a model fitted on the synthetic base, with the point rule of before (same tolerances) as
    the same-run baseline: false alarms over ``days`` days without a change, and the detection delay
    (days after the change until the first flag) for an abrupt change (the documented
    `engagement_drop` shift at full intensity from the first day) and a gradual one (intensity 0.1 on
    the first day, +0.1 a day)."""
    from churn_assets.core.monitoring import performance as perf

    policy = perf.DegradationPolicy()
    out: dict = {"days": days, "day_rows": day_rows, "train_rows": train_rows, "policy": policy.__dict__,
                 "seeds": {}}
    for seed in seeds:
        out["seeds"][seed] = _alarm_seed(seed, days, day_rows, train_rows, policy)
    seeds_out = out["seeds"].values()
    out["false_alarm_rate"] = sum(s["false_alarms"] for s in seeds_out) / (days * len(seeds))
    out["false_alarm_rate_point_rule"] = sum(s["false_alarms_point_rule"] for s in seeds_out) / (days * len(seeds))
    out["most_false_alarms_in_a_seed"] = max(s["false_alarms"] for s in seeds_out)
    return out


def _alarm_seed(seed: int, days: int, day_rows: int, train_rows: int, policy) -> dict:
    """One seed of ``degradation_alarms``: fit the model, then judge the quiet, abrupt and gradual days."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import f1_score, roc_auc_score

    from churn_assets.core.data.contract_inference import resolve_contract
    from churn_assets.core.data.sources import load_raw
    from churn_assets.core.data.spec import synthetic_spec
    from churn_assets.core.data.synthetic import DEFAULT_AS_OF, generate_customers
    from churn_assets.core.data.validation import validate
    from churn_assets.core.monitoring import performance as perf
    from churn_assets.core.training.modeling import assemble, feature_steps
    from churn_assets.core.training.splits import split

    t0 = time.perf_counter()
    spec = synthetic_spec(rows=train_rows, seed=seed)
    raw = load_raw(spec)
    contract = resolve_contract(spec, raw)
    sp = split(validate(raw, contract).clean, contract.target_column, contract.id_column)
    builder, encoder = feature_steps(contract)
    X = encoder.fit(builder.fit(sp.train).transform(sp.train)).transform(builder.transform(sp.train))
    pipe = assemble(builder, encoder, HistGradientBoostingClassifier(random_state=seed).fit(
        X, sp.train[contract.target_column].astype(int)))
    y_val, p_val = sp.val[contract.target_column].astype(int), pipe.predict_proba(sp.val)[:, 1]
    grid = np.linspace(0.05, 0.95, 91)
    threshold = float(grid[np.argmax([f1_score(y_val, p_val >= t) for t in grid])])
    y_test, p_test = sp.test[contract.target_column].astype(int), pipe.predict_proba(sp.test)[:, 1]
    train_f1, train_auc = float(f1_score(y_test, p_test >= threshold)), float(roc_auc_score(y_test, p_test))

    def day(i: int, shift: str = "none", intensity: float = 1.0):
        df = generate_customers(day_rows, seed=1_000 * seed + i, as_of=DEFAULT_AS_OF, shift=shift,
                                intensity=intensity, id_prefix=f"S{seed}D{i}-")
        p = pipe.predict_proba(df)[:, 1]
        frame = pd.DataFrame({"y": df["churn"].astype(int).to_numpy(), "pred": (p >= threshold).astype(int),
                              "p": p, "model_version": "1"})
        r = perf.judge(frame, train_f1, train_auc, policy)
        return r, bool(r.f1_drop > policy.f1_tolerance or r.roc_auc_drop > policy.auc_tolerance)

    quiet = [day(i) for i in range(days)]
    abrupt = [day(100 + i, "engagement_drop", 1.0) for i in range(10)]
    gradual = [day(200 + i, "engagement_drop", min(1.0, 0.1 * (i + 1))) for i in range(10)]

    def delay(results, which: int):
        flags = [r[which] if which else r[0].degraded for r in results]
        return next((i for i, f in enumerate(flags) if f), None)

    return {
        "training_roc_auc": train_auc, "training_f1": train_f1, "threshold": threshold,
        "false_alarms": sum(r.degraded for r, _ in quiet), "false_alarms_point_rule": sum(f for _, f in quiet),
        "quiet_roc_auc_drops": [round(r.roc_auc_drop, 4) for r, _ in quiet],
        "abrupt_delay_days": delay(abrupt, 0), "abrupt_delay_days_point_rule": delay(abrupt, 1),
        "abrupt_flagged_share": float(np.mean([r.degraded for r, _ in abrupt])),
        "gradual_delay_days": delay(gradual, 0), "gradual_delay_days_point_rule": delay(gradual, 1),
        "gradual_intensity_at_detection": (None if delay(gradual, 0) is None
                                           else round(0.1 * (delay(gradual, 0) + 1), 1)),
        "seconds": time.perf_counter() - t0,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--trials", type=int, default=50)
    # The seed's recipe costs ~26 s per trial at 50k rows on 2 cores: 12 trials keep this part ~6 min.
    p.add_argument("--compare-rows", type=int, default=50_000, help="data size of the tuning comparison")
    p.add_argument("--compare-trials", type=int, default=12)
    p.add_argument("--scale-rows", default="1000000,10000000", help="graph sizes of the scale rows")
    p.add_argument("--scoring-rows", default="1000000,10000000", help="partition sizes of the scoring rows")
    p.add_argument("--predictions-url", default="", help="scoring rows on this table (default: SQLite)")
    p.add_argument("--quality-seeds", default="42,1,2,3,4", help="splits of the quality section")
    p.add_argument("--only", default="graph,tuning,drift,distributed,loop,scale,scoring,quality,ceiling,forget")
    args = p.parse_args(argv)
    isolated_home()
    only = set(args.only.split(","))
    results, rows = {}, []
    if "graph" in only:
        g = results["whole_graph"] = whole_graph(args.rows, args.trials)
        rows.append({"benchmark": f"whole graph, {args.rows:,} customers, {args.trials} trials (in-process)",
                     "result": f"{g['seconds']:.0f} s (target < 180 s)", "baseline": "-",
                     "ratio": f"{180 / g['seconds']:.2f}x under target", "ok": g["success"] and g["seconds"] < 180})
    if "tuning" in only:
        t = results["tuning"] = tuning_throughput(args.compare_rows, args.compare_trials)
        rows.append({"benchmark": f"tuning, {t['rows']:,} customers, {t['trials']} trials each",
                     "result": f"{t['ours']['trials_per_min']:.1f} trials/min, val AUC {t['ours']['val_roc_auc']:.4f}",
                     "baseline": f"seed RF 5-fold: {t['seed']['trials_per_min']:.1f} trials/min, "
                                 f"val AUC {t['seed']['val_roc_auc']:.4f}",
                     "ratio": f"{t['throughput_ratio']:.1f}x trials/min",
                     "ok": t["throughput_ratio"] >= 10 and t["auc_delta"] >= -1e-9})
    if "drift" in only:
        d = results["drift"] = drift_speed(args.rows)
        rows.append({"benchmark": f"drift report, {d['rows']:,} rows x {d['columns']} columns",
                     "result": f"{d['sampled_10k']['seconds']:.1f} s (sampled 10k; target < 10 s)",
                     "baseline": f"unsampled {d['unsampled']['seconds']:.1f} s",
                     "ratio": f"{d['speedup']:.1f}x", "ok": d["sampled_10k"]["seconds"] < 10 and
                     d["sampled_10k"]["drift_detected"] == d["unsampled"]["drift_detected"]})
    if "distributed" in only:
        x = results["distributed"] = distributed(20_000, 24)
        rows.append({"benchmark": "distributed tuning, 20,000 customers, 24 trials",
                     "result": f"2 workers: {x['2_worker']['tuning_wall_s']:.1f} s",
                     "baseline": f"1 worker: {x['1_worker']['tuning_wall_s']:.1f} s",
                     "ratio": f"{x['speedup']:.2f}x speed-up", "ok": x["speedup"] > 1.0})
    if "loop" in only:
        lp = results["learning_loop"] = learning_loop()
        g, c = lp["post_gain"], lp["pre_change"]
        for seed, r in lp["seeds"].items():
            rows.append({"benchmark": f"learning loop, seed {seed} ({lp['rows']:,} base + 5 labelled days)",
                         "result": f"post-shift AUC {r['post_retrained']:.4f}, pre-shift {r['pre_retrained']:.4f}",
                         "baseline": f"stale champion: post {r['post_stale']:.4f}, pre {r['pre_stale']:.4f}",
                         "ratio": f"{r['post_gain']:+.4f} post, {r['pre_change']:+.4f} pre",
                         "ok": r["post_gain"] >= 0.02 and r["pre_change"] >= -0.01 and r["promoted"]})
        rows.append({"benchmark": "learning loop, mean (sd) over 3 seeds",
                     "result": f"post-shift gain {g['mean']:+.4f} ({g['std']:.4f}); target >= +0.02",
                     "baseline": "stale champion",
                     "ratio": f"pre-shift change {c['mean']:+.4f} ({c['std']:.4f}); target >= -0.01",
                     "ok": g["min"] >= 0.02 and c["min"] >= -0.01})
    if "loop" in only:
        a = results["degradation"] = degradation_alarms()
        (write("loop", a).parent / "loop.json").write_text(json.dumps(a, indent=1, default=str))
        for seed, r in a["seeds"].items():
            rows.append({"benchmark": f"degradation rule, seed {seed}: {a['days']} days x {a['day_rows']} outcomes, "
                                      "no change",
                         "result": f"{r['false_alarms']} day(s) flagged; change detected after "
                                   f"{r['abrupt_delay_days']} day(s) (abrupt), {r['gradual_delay_days']} (gradual)",
                         "baseline": f"point rule: {r['false_alarms_point_rule']} flagged; delay "
                                     f"{r['abrupt_delay_days_point_rule']} / {r['gradual_delay_days_point_rule']}",
                         "ratio": f"false alarms {r['false_alarms']} vs {r['false_alarms_point_rule']}",
                         "ok": r["false_alarms"] <= 1 and r["abrupt_delay_days"] is not None})
    if "scale" in only:
        from bench import scale

        results["scale"] = {}
        for n in (int(x) for x in args.scale_rows.split(",") if x):
            r = results["scale"][str(n)] = scale.run(n, args.trials)
            rows.extend(scale.rows_for(r))
    if "scoring" in only:
        from bench import scoring_scale

        results["scoring"] = {}
        for n in (int(x) for x in args.scoring_rows.split(",") if x):
            r = results["scoring"][str(n)] = scoring_scale.run(n, args.predictions_url)
            rows.extend(scoring_scale.rows_for(r))
    if "quality" in only:
        from bench import quality

        results["quality"] = quality.run([int(x) for x in args.quality_seeds.split(",") if x], args.trials, args.rows)
        for res in results["quality"].values():
            rows.extend(quality.rows_for(res))
        quality.write_results(results["quality"])
    if "ceiling" in only:
        from bench import quality_ceiling

        if quality_ceiling.bank_available():
            results["ceiling"] = quality_ceiling.run([int(x) for x in args.quality_seeds.split(",") if x])
            rows.extend(quality_ceiling.rows_for(results["ceiling"]))
    if "forget" in only:  # issue 27: 10,000 customers forgotten in a 1M-row state, < 60 s
        from bench import privacy

        results["forget"] = privacy.run()
        rows.extend(privacy.rows_for(results["forget"]))
    print(table(rows, ["benchmark", "result", "baseline", "ratio", "ok"], "Training benchmarks (this machine)"))
    print(f"host speed: {cpu_calibration():.3f} s per 2M-step Python loop (absolute times scale with it)")
    path = write("training", results)
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
