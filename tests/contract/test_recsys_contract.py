"""The recommender pipeline's contract: every installed engine, two days in a row, at small
scale (about 10k events a day), gives what the mock engine gives.

Same task names and edges as the declaration, same A/B table to the bit, same model sha256,
same gate decision and registration, same profile state checksum after each day. Day 1 is a
first run (compared with the popularity baseline); day 2 is compared with day 1's production
model, so the registry and the profile state carry over between the runs as in production.
These runs use the MLflow Model Registry backend (the weather contract uses the file registry):
both backends, under every engine.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from mlpipeline import engines, workspace
from mlpipeline.deployment import CHECKS, IntegrationTestFailed
from mlpipeline.execution import run_step
from mlpipeline.recsys.generator import land_days
from mlpipeline.recsys.steps import RECSYS, history_window
from mlpipeline.registry import open_registry
from mlpipeline.runs import RunResult
from tests.contract.tracking_check import assert_same_tracking_logged

DAYS = ("2026-03-01", "2026-03-02")


def day_config(workdir: Path, day: str, **overrides: Any) -> Any:
    return workspace.config_in(
        workdir,
        {"data.date": day, "tracking.registry_backend": "mlflow", **overrides},
        pipeline="recsys",
    )


def run_days(
    engine_name: str, workdir: Path, days: tuple[str, ...] = DAYS, **overrides: Any
) -> list[RunResult]:
    """Land the days D1-1-H .. D2 (a run on D reads D-1-H .. D), then run each day."""
    results = []
    for day in days:
        cfg = day_config(workdir, day, **overrides)
        if day == DAYS[0]:
            first = history_window(cfg)[0]
            land_days(
                cfg.data.landing,
                cfg.generator,
                first,
                (date.fromisoformat(DAYS[1]) - first).days + 1,
            )
        result = engines.load(engine_name).run_pipeline(cfg, run_id=f"{engine_name}-{day}")
        assert result.ok, f"{engine_name} {day}: {result.failed_step}: {result.error}"
        results.append(result)
    return results


def outcome(result: RunResult) -> dict[str, Any]:
    return {
        "ab": result.metrics,
        "model_sha256": result.model_sha256,
        "gate": result.gate,
        "staging": result.report("staging"),
        "integration": {
            c["name"]: c["passed"] for c in result.report("integration").get("checks", [])
        },
        "registration": result.registration,
        "state_sha256": result.output("merge_profiles").json("merge")["state_sha256"],
    }


@pytest.fixture(scope="session")
def recsys_reference(tmp_path_factory: pytest.TempPathFactory) -> list[RunResult]:
    return run_days("mock", tmp_path_factory.mktemp("recsys-reference"))


@pytest.fixture(scope="session")
def recsys_runs(
    engine_name: str, recsys_reference: list[RunResult], tmp_path_factory: pytest.TempPathFactory
) -> list[RunResult]:
    if engine_name == "mock":  # the reference is the mock engine's run: no need to run it twice
        return recsys_reference
    return run_days(engine_name, tmp_path_factory.mktemp(f"recsys-{engine_name}"))


def test_graph_is_the_declaration(recsys_runs: list[RunResult]):
    for result in recsys_runs:
        assert set(result.tasks) == set(RECSYS.steps)
        assert result.edges == RECSYS.edges


def test_same_outcome_as_the_mock_engine(recsys_runs, recsys_reference):
    for result, reference in zip(recsys_runs, recsys_reference, strict=True):
        assert outcome(result) == outcome(reference), result.run_id


def test_first_day_deploys_against_the_baseline_second_is_judged_against_it(recsys_runs):
    first, second = (outcome(r) for r in recsys_runs)
    assert first["ab"]["against"] == "the popularity baseline"
    assert first["registration"]["version"] == 1 and first["registration"]["promoted"]
    assert first["integration"] == dict.fromkeys(CHECKS, True)
    assert second["ab"]["against"] == "production v0001"
    assert first["state_sha256"] != second["state_sha256"]


def test_same_tracking(recsys_runs, recsys_reference, engine_name, tracking_store):
    """Day 2's runs: the A/B table against a production model, the gate, the registration."""
    runs = {"reference": recsys_reference[1], engine_name: recsys_runs[1]}
    stored = assert_same_tracking_logged(
        {
            engine: (
                result,
                day_config(result.run_dir.parent.parent, DAYS[1]),
            )
            for engine, result in runs.items()
        },
        tracking_store,
    )
    ndcg = recsys_runs[1].metrics["ndcg"]["difference"]
    assert stored.metrics["ab.ndcg.difference.p_value"] == ndcg["p_value"]
    assert stored.metrics["ab.ndcg.difference.ci.low"] == ndcg["ci"][0]
    assert {"ab.recall.difference.mean", "data.duplicates", "profiles.users"} <= set(stored.metrics)
    assert stored.tags["gate_promote"] in ("true", "false") and stored.tags["gate_verdict"]
    assert stored.experiment == "recsys"
    assert stored.tags["model_sha256"] == recsys_runs[1].model_sha256


def test_a_failing_integration_test_names_the_check_and_keeps_production(recsys_reference):
    """The ranker's integration test on day 1's staged model again, with a latency budget no
    model meets: the step fails naming the check, production stays. (The engines' failure
    handling around this step is the weather contract's `test_failing_integration_test_...`.)"""
    first = recsys_reference[0]
    workdir = first.run_dir.parent.parent
    cfg = day_config(workdir, DAYS[0], **{"deployment.latency_budget_ms": 1e-6})
    production = open_registry(cfg).production()
    assert production is not None
    inputs = {a: first.outputs[u] for a, u in RECSYS.steps["integration_test"].inputs.items()}
    with pytest.raises(IntegrationTestFailed, match=r"failed \(latency\); production untouched"):
        run_step(RECSYS, "integration_test", cfg, workdir / "runs" / "slow-ranker", **inputs)
    assert open_registry(cfg).production() == production


# -- failure at any stage (mock engine: the fault injection is the same code under every engine,
# and the weather pipeline's contract rows cover retries and alerts under Airflow and Prefect;
# these extra days would cost minutes per engine of the test budget) -------------------------
def test_a_fault_at_any_step_alerts_once_or_is_retried_and_loses_nothing(
    engine_name: str, recsys_reference: list[RunResult], tmp_path_factory
):
    """Day 2 fails permanently at each step in turn, then runs with a transient fault in every
    step. Documented rule (docs/recsys/data.md): a failure up to `merge_profiles` leaves the
    profile state as it was; after it, the state is rolled forward (the day is merged once, and
    the rerun finds it merged). Production never moves, each failed run alerts once, and the
    retried run (each step once more, no alert) gives the undisturbed outcome."""
    from mlpipeline import artifacts
    from mlpipeline.recsys import profiles

    if engine_name != "mock":
        pytest.skip("the recsys fault row runs on the mock engine in the test command")
    workdir = tmp_path_factory.mktemp(f"recsys-faults-{engine_name}")
    run_days(engine_name, workdir, DAYS[:1])  # lands both days, runs day 1
    engine = engines.load(engine_name)
    cfg = day_config(workdir, DAYS[1])
    production = open_registry(cfg).production().sha256
    before = profiles.state_checksum(cfg.profiles)
    expected = outcome(recsys_reference[1])
    steps = list(RECSYS.steps)
    for i, step in enumerate(steps):
        run_id = f"permanent-{step}"
        failed = engine.run_pipeline(day_config(workdir, DAYS[1], faults={step: -1}), run_id=run_id)
        assert not failed.ok and failed.failed_step == step, (step, failed.error)
        alerts = [a["run_id"] for a in artifacts.read_jsonl(cfg.alerts.log)]
        assert alerts == [f"permanent-{s}" for s in steps[: i + 1]], step
        assert open_registry(cfg).production().sha256 == production, step
        rolled = i > steps.index("merge_profiles")
        state = profiles.state_checksum(cfg.profiles)
        assert state == (expected["state_sha256"] if rolled else before), step

    # Cache off: the failed runs cached their early steps, and a cache hit runs no attempt.
    flaky = day_config(workdir, DAYS[1], faults=dict.fromkeys(steps, 1), **{"cache.enabled": False})
    retried = engine.run_pipeline(flaky, run_id="transient")
    assert retried.ok, retried.error
    assert {s: t.attempts for s, t in retried.tasks.items()} == dict.fromkeys(steps, 2)
    got = outcome(retried)
    for key in ("ab", "model_sha256", "gate", "state_sha256"):
        assert got[key] == expected[key], key
    assert len(artifacts.read_jsonl(cfg.alerts.log)) == len(steps)  # none for the retried run
