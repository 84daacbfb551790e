# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 9: Monitoring a pipeline
#
# A pipeline that runs every day needs a place where its runs can be compared: which data it
# saw, what it measured, what the gate decided, which model went to production. Here that place
# is MLflow tracking, fed by every engine; Prefect and Airflow each show the same run in their
# own UI too.
#
# **Goals.** After this lesson you can
#
# 1. log the same run from each engine into one MLflow experiment and read its params and metrics
#    back with the MLflow client;
# 2. say what each engine's own UI shows of it (Prefect's keyed artifacts, Airflow's task link);
# 3. walk a model from `staging` through the integration test to `production`, and watch a
#    failing integration test stop it with production untouched.
#
# - **Environment:** any; each installed engine adds its run to the experiment.
# - **Prerequisites:** lessons 1 to 8.
# - **Learner time:** about 30 minutes; the notebook executes in 10 to 60 s depending on the
#   engine.

# %%
# requires: any

import course

from mlpipeline import artifacts, engines, tracking
from mlpipeline.deployment import (
    IntegrationTestFailed,
    deploy_to_staging,
    integration_test,
    promote_if_passed,
)
from mlpipeline.registry import open_registry
from mlpipeline.steps import serving_probe

work = course.workdir("lesson09")
store = work / "mlflow"  # one tracking store for every run of this lesson

# %% [markdown]
# ## 1. One experiment, every engine
#
# `tracking.log_run(result, cfg)` takes the engine-neutral `RunResult` every engine returns, so
# one call after the run covers them all (the CLI makes it for you after `python -m mlpipeline
# run`). What it sends is computed first by a pure function, `tracking.payload`: the config as
# params; the holdout metrics, CV mean and spread, row and data-check counts and per-step
# durations as metrics; pipeline, engine, run id, data fingerprint, code version and the gate's
# decision as tags; the model file and the gate decision as artifacts.
#
# The store is embedded: a SQLite file and an artifact folder under `tracking.store`, no server.
# Where the store cannot be written (a tracking server down, say), the payload waits in an
# outbox next to the store, and `python -m mlpipeline dashboard` logs it before starting the UI:
# the run itself never fails because its dashboard did.

# %%
results, configs = {}, {}
for name in engines.ENGINES:
    if course.engine_ready(name):
        cfg = course.small_config(work / name, {"tracking.store": str(store)})
        result = engines.load(name).run_pipeline(cfg, run_id=f"{name}-monitored")
        assert result.ok, result.error
        tracking.log_run(result, cfg)
        results[name], configs[name] = result, cfg

p = tracking.payload(results["mock"], configs["mock"])
print(f"{len(p.params)} params, {len(p.metrics)} metrics, {len(p.tags)} tags; for example:")
for key in ("holdout.accuracy", "holdout.roc_auc", "cv.roc_auc.mean", "rows.train"):
    print(f"  {key:<20} {p.metrics[key]:.6g}")
print(f"  gate: promote={p.tags['gate_promote']}; {p.tags['registration']}")

# %% [markdown]
# ## 2. Reading the runs back
#
# The MLflow client reads what the dashboard shows. Each engine's run is one MLflow run in the
# experiment `seattle-weather` (the recommender logs to `recsys`), found by its tag
# `pipeline_run_id`. The contract suite checks what you see here: the same params and metrics
# from every engine, durations aside.

# %%
client = tracking.client(configs["mock"].tracking)
experiment = client.get_experiment_by_name("seattle-weather")
logged = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
for run in logged:
    m, tags = run.data.metrics, run.data.tags
    print(
        f"{tags['engine']:<8} {run.info.status:<9} accuracy {m['holdout.accuracy']:.6f} "
        f"model {tags['model_sha256'][:12]}  "
        f"train_model {m['duration_seconds.train_model']:.2f} s"
    )
assert len({r.data.metrics["holdout.accuracy"] for r in logged}) == 1

views = [tracking.payload(r, configs[n]) for n, r in results.items()]
tracking.assert_same_tracking(dict(zip(results, views, strict=True)))
print("same params, metrics and tags from", ", ".join(results))

# %% [markdown]
# To see them in the MLflow UI, serve the store on loopback (the full `mlflow` package lives in
# its own environment, so `dev.py` runs it there):
#
# ```
# python3 dev.py dashboard            # the default store, var/mlflow
# ```
#
# The experiment's runs table has one row per engine; its chart view plots any metric across
# runs (`docs/monitoring/metric-chart.png`); the Models page lists the registered versions with
# their `staging` and `production` aliases when `tracking.registry_backend = "mlflow"`
# (`docs/monitoring/model-page.png`).
#
# **Each engine's own view.** Prefect: every finished flow run publishes two keyed artifacts,
# `seattle-weather-metrics` (a table) and `seattle-weather-gate` (markdown); each run adds a
# version under the same key, so the Artifacts page is a history of the metrics and decisions
# (`prefect_impl/monitoring.py`). Airflow: every task of the DAG carries an "MLflow run" extra
# link, a button on the task instance's page (`airflow_impl/monitoring.py`):

# %%
print(tracking.run_link(configs["mock"].tracking, "mock-monitored"))
if "prefect" in results:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # The runner ran the flow against its own local API server (as in lesson 3): ask it.
    with (
        temporary_settings(updates={PREFECT_API_URL: results["prefect"].settings["api"]}),
        get_client(sync_client=True) as prefect_client,
    ):
        key = ArtifactFilterKey(any_=["seattle-weather-gate"])
        versions = prefect_client.read_artifacts(artifact_filter=ArtifactFilter(key=key))
    print(versions[-1].data)

# %% [markdown]
# ## 3. Staging, integration test, production
#
# The gate decides whether a candidate is *better*; it does not prove that the model the
# registry will hand to a serving process works there. Both pipelines therefore end with the
# seed architecture's last three steps, `register_model` -> `integration_test` ->
# `promote_model`, under every engine. Their bodies are pure functions of
# `mlpipeline.deployment`, on either registry backend, which we call here by hand:
#
# 1. `deploy_to_staging` registers the model and points `staging` at it;
# 2. `integration_test` loads it by alias through the registry's checksum check and runs the
#    pipeline's probe (`serving_probe` for the weather model): it scores a smoke batch (schema
#    and range), times single-row predictions against a p99 budget, and re-scores the holdout
#    to agree with the evaluated metrics;
# 3. `promote_if_passed` moves `production` only if every check passed.
#
# We take the mock run's model, holdout and metrics, and a fresh registry (the MLflow Model
# Registry, so the aliases show in the dashboard).

# %%
run = results["mock"]
model_bytes = run.output("train_model").file("model").read_bytes()
holdout = artifacts.read_frame(run.output("split_data").file("holdout"))
metrics = run.metrics
deploy_cfg = course.small_config(
    work / "deploy",
    {
        "tracking.store": str(store),
        "tracking.registry_backend": "mlflow",
        # Generous: a notebook may run on a busy machine. A service sets the budget it needs.
        "deployment.latency_budget_ms": 10_000.0,
        "deployment.latency_samples": 50,
    },
)
registry = open_registry(deploy_cfg)
probe = serving_probe(deploy_cfg, holdout, metrics)  # the weather model's checks

staged = deploy_to_staging(registry, model_bytes, {"metrics": metrics})
report = integration_test(registry, "staging", probe, deploy_cfg.deployment)
for check in report.checks:
    print(f"{'PASS' if check.passed else 'FAIL'} {check.name:<18} {check.detail}")
print(promote_if_passed(registry, report, expected=None)["reason"])
assert registry.production().version == staged.version

# %% [markdown]
# ## 4. A failing integration test stops the walk
#
# Now a model that is *not* the one that was evaluated: trained with other hyperparameters, but
# staged with the first model's metrics (a mix-up a hand-run deployment can make). Its outputs
# are fine and fast, so schema and latency pass; re-scoring the holdout does not reproduce the
# evaluated accuracy, so `offline_agreement` fails. `promote_if_passed` raises, naming the check,
# and `production` stays where it was. In a pipeline that exception fails the step: one alert.

# %%
from mlpipeline import training  # noqa: E402 - used only from here on

train = artifacts.read_frame(run.output("split_data").file("train"))
other = training.fit(train, {"max_depth": 1, "learning_rate": 0.3, "n_estimators": 5}, deploy_cfg)
deploy_to_staging(registry, other, {"metrics": metrics})
report = integration_test(registry, "staging", probe, deploy_cfg.deployment)
for check in report.checks:
    print(f"{'PASS' if check.passed else 'FAIL'} {check.name:<18} {check.detail}")
try:
    promote_if_passed(registry, report, expected=staged.sha256)
except IntegrationTestFailed as e:
    print(f"\nstopped: {e}")
assert report.failed == ["offline_agreement"]
assert registry.production().version == staged.version  # untouched
for alias in ("staging", "production"):
    version = client.get_model_version_by_alias("seattle-weather", alias)
    print(f"MLflow Model Registry: {alias} -> version {version.version}")

# %% [markdown]
# ## What we learned
#
# - One call after any engine's run logs it to MLflow; the payload is computed by a pure
#   function, so the contract suite can prove every engine logs the same params and metrics.
# - The dashboard is the MLflow UI over the same store; Prefect's keyed artifacts and Airflow's
#   task link show the same run from inside each engine.
# - `staging` -> integration test -> `production`: the gate judges quality, the integration test
#   judges the deployable artifact, and a failed check leaves production untouched.
#
# ## Practice questions
#
# 1. Why are per-step durations left out of the cross-engine comparison?
# 2. The integration test re-scores the holdout although the evaluate step already did. Why?
# 3. A run finished while the tracking server was down, and its MLflow run is missing from the
#    dashboard. Where is it, and when does it show up?
#
# Exercise: `exercises/09_best_run.py` (solution in `solutions/09_best_run.py`).

# %% [markdown] jupyter={"source_hidden": true}
# ## Answers
#
# Collapsed in Jupyter: try the questions first, then open this cell.
#
# 1. They measure the engine, not the work: the same step takes a different time under each
#    engine (and on each try), while params and metrics must be identical.
# 2. To prove that the bytes the registry hands out are the model that was evaluated, on the
#    same data: a mix-up of files or versions shows up as a disagreement (section 4).
# 3. In the outbox under `tracking.store` (`tracking.log_run` never fails a run): it waits there
#    until `python3 dev.py dashboard` (or `tracking.sync_outbox`) logs it.

# %%
import shutil  # noqa: E402

shutil.rmtree(work)
