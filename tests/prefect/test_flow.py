"""The flow's wiring, retries, fan-out and alert, read from Prefect's own task runs."""

from __future__ import annotations

import pytest

pytest.importorskip("prefect", reason="Prefect is not installed here (run: tox -e prefect)")

import inspect
import shutil

import pytest
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import ParameterTypeError
from prefect.tasks import Task, exponential_backoff

from mlpipeline.alerts import read_alerts
from mlpipeline.config import OrchestrationConfig
from mlpipeline.graph import CACHEABLE, STEPS
from prefect_impl import deployment_tasks, flow
from prefect_impl.cache import StepCachePolicy
from prefect_impl.options import retry_delays
from prefect_impl.task_runs import state_history
from tests.conftest import DATA
from tests.prefect.conftest import run_flow

STEP_TASKS = [getattr(flow, name) for name in STEPS]


def test_one_task_per_step_calling_the_step_of_the_same_name(monkeypatch, tmp_path):
    assert all(
        isinstance(t, Task) and t.name == name for t, name in zip(STEP_TASKS, STEPS, strict=True)
    )
    calls = []
    monkeypatch.setattr(flow, "run_step", lambda p, name, *a, **kw: calls.append(name))
    # The deployment tail's tasks, shared by every flow (deployment_tasks.py).
    monkeypatch.setattr(deployment_tasks, "_run", lambda name, *a, **kw: calls.append(name))
    for t in STEP_TASKS:
        inputs = {p: p for p in inspect.signature(t.fn).parameters if p not in ("cfg", "run_dir")}
        t.fn("cfg", str(tmp_path), **inputs)  # .fn: the plain function, no engine
    assert calls == list(STEPS)


def test_cache_policies_follow_the_graph():
    for t in STEP_TASKS:
        if t.name in CACHEABLE:
            assert isinstance(t.cache_policy, StepCachePolicy), t.name
        else:
            assert t.cache_policy is NO_CACHE, t.name


def test_retry_condition_is_a_plain_function():
    # Prefect silently skips a condition that inspect.isfunction rejects (a functools.partial).
    assert all(inspect.isfunction(t.retry_condition_fn) for t in STEP_TASKS)


def test_retry_delays():
    default = OrchestrationConfig()  # 2 retries, 1 s, factor 2
    assert retry_delays(default) == exponential_backoff(backoff_factor=1.0)(2) == [1.0, 2.0]
    capped = OrchestrationConfig(retries=4, retry_backoff=3, retry_max_delay_seconds=5)
    assert retry_delays(capped) == [1.0, 3.0, 5.0, 5.0]


def test_parameters_are_typed_and_validated():
    schema = flow.ml_pipeline.parameters.model_dump()
    assert schema["required"] == ["cfg", "run_id"]
    assert "PipelineConfig" in str(schema["properties"]["cfg"])
    with pytest.raises(ParameterTypeError):
        flow.ml_pipeline(cfg={"data": {"path": 3}}, run_id="bad")  # refused before any task


def test_fan_out_gives_one_task_run_per_candidate(make_config):
    grid = {"max_depth": [2, 3, 4], "learning_rate": [0.1], "n_estimators": [20]}
    ran = run_flow(make_config(tuning__grid=grid), "fan-out")
    assert ran.state.is_completed()
    tuned = ran.runs_of("tune_model")
    assert [r.name for r in tuned] == ["tune_model-0", "tune_model-1", "tune_model-2"]
    (train,) = ran.runs_of("train_model")
    assert {ref.id for ref in train.task_inputs["tuning"]} == {r.id for r in tuned}
    assert len(ran.state.result()["tune_model"]) == 3


def test_transient_failures_are_retried_and_recorded(make_config):
    cfg = make_config(orchestration__retries=2, faults={"load_data": 2})
    ran = run_flow(cfg, "transient")
    assert ran.state.is_completed()
    (load,) = ran.runs_of("load_data")
    assert load.run_count == 3
    retry = ["AwaitingRetry", "Retrying"]  # a retry delay, even of 0 s, schedules the retry
    assert state_history(load.id) == ["Pending", "Running", *retry, *retry, "Completed"]


def test_retries_wait_with_backoff(make_config):
    cfg = make_config(
        orchestration__retries=2,
        orchestration__retry_delay_seconds=0.2,  # then 0.4 s; jitter 0 (tests.conftest.FAST)
        faults={"load_data": 2},
    )
    ran = run_flow(cfg, "backoff")
    (load,) = ran.runs_of("load_data")
    history = state_history(load.id)
    assert history.count("AwaitingRetry") == 2 and history[-1] == "Completed"
    assert (load.end_time - load.start_time).total_seconds() >= 0.6


def test_validation_failure_is_not_retried(make_config, tmp_path):
    bad = tmp_path / "bad.csv"
    shutil.copy(DATA, bad)
    bad.write_text(bad.read_text().replace("2012/01/05,1.3,", "2012/01/05,,"))
    cfg = make_config(data__path=str(bad), orchestration__retries=3)
    ran = run_flow(cfg, "bad-data", expected=2)
    assert ran.state.is_failed()
    (validate,) = ran.runs_of("validate_data")
    assert validate.run_count == 1
    assert state_history(validate.id) == ["Pending", "Running", "Failed"]


def test_on_failure_alerts_once_per_failed_run(make_config):
    cfg = make_config(orchestration__retries=1, faults={"split_data": -1})
    for run_id in ("broken-1", "broken-2"):
        ran = run_flow(cfg, run_id, expected=4)
        assert ran.state.is_failed() and ran.runs_of("split_data")[0].run_count == 2
        assert ran.states().keys() == {"load_data", "validate_data", "build_features", "split_data"}
        alert = read_alerts(cfg.alerts.log)[-1]
        assert (alert["run_id"], alert["step"]) == (run_id, "split_data")
        assert "injected fault on attempt 2" in alert["error"]
        assert str(ran.state.state_details.flow_run_id) in alert["log_location"]
    assert [a["run_id"] for a in read_alerts(cfg.alerts.log)] == ["broken-1", "broken-2"]
