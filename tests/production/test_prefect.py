"""Prefect in production mode: `prefect server start` on Postgres, a Dask cluster of 2 workers,
the deployment runner and the stack's SMTP server, started once for this module
(`prefect_stack`). Tests run in file order; the last stops the stack."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlpipeline import artifacts, cli, pipelines
from mlpipeline.alerts import read_alerts
from mlpipeline.runs import RunResult
from mlpipeline.stack import stacks
from tests.conftest import DATA, config_in
from tests.production import checks
from tests.production.conftest import (
    alerts_of,
    production_run,
    registry_intact,
    stack_mail,
    tracked_statuses,
)
from tests.production.workers import dask_tasks
from tests.smtp_sink import check_alert_mail

pytest.importorskip("prefect", reason="needs Prefect: tox -e prefect-prod")

from prefect_impl import production  # noqa: E402  (after the skip)

DAILY = "ml_pipeline_daily/daily"


def test_no_stack_the_run_says_how_to_start_one(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(stacks.ROOT_ENV, str(tmp_path))
    code = cli.main(["run", "--engine", "prefect", "--mode", "production"])
    out = capsys.readouterr().out
    assert code == 2
    assert "no prefect stack is running" in out and "stack up --engine prefect" in out
    assert "Traceback" not in out and len(out.splitlines()) < 10


def test_status_reports_every_component_healthy_and_the_ui(prefect_stack, capsys):
    report = stacks.status("prefect")
    assert set(report["health"].values()) == {"healthy"}, report["health"]
    assert "smtp" in report["health"]
    assert all(report["processes"].values()), report["processes"]
    assert {"dask-scheduler", "dask-worker-1", "dask-worker-2", "smtp"} <= set(report["processes"])
    assert report["ui"] == f"http://127.0.0.1:{prefect_stack.ports['api']}/"
    assert report["mlflow"] == f"http://127.0.0.1:{prefect_stack.ports['mlflow']}"
    assert "mlflow" in report["health"] and "mlflow" in report["processes"]
    assert cli.main(["stack", "status", "--engine", "prefect"]) == 0
    out = capsys.readouterr().out
    assert report["ui"] in out and report["mlflow"] in out


def test_a_second_up_is_refused(prefect_stack):
    with pytest.raises(stacks.StackError, match="already up"):
        stacks.up("prefect")


@pytest.fixture(scope="module")
def dask_run(prefect_stack, tmp_path_factory) -> tuple[RunResult, dict[str, Counter]]:
    """The run, and what each Dask worker executed during it (the workers' logs, before and
    after: they also hold earlier runs' tasks)."""
    before = dask_tasks(prefect_stack)
    run = production_run("prefect", tmp_path_factory.mktemp("dask-run"))
    after = dask_tasks(prefect_stack)
    return run, {w: after[w] - before.get(w, Counter()) for w in after}


def test_the_run_is_tracked_on_the_stacks_mlflow_server(dask_run, prefect_stack):
    run = dask_run[0]
    checks.tracked_on_the_stacks_mlflow(prefect_stack, run.run_id, run.metrics)


def test_a_run_the_cli_did_not_start_is_tracked_by_the_deployments_hook(
    dask_run, prefect_stack, tmp_path
):
    """`run_deployment` called by hand, as the schedule or the UI starts a run (no CLI tag): the
    deployment's `on_completion` hook (`track_run`) logs it to the stack's MLflow server, with
    the metrics of the CLI's run of the same config."""
    cfg = stacks.on_stack(config_in(tmp_path), stacks.client_env("prefect"))
    with production.connected():
        from prefect.deployments import run_deployment

        flow_run = run_deployment(
            "ml_pipeline/production",
            parameters={"cfg": cfg, "run_id": "by-hand"},
            flow_run_name="by-hand",
            timeout=0,
        )
        assert production.follow(flow_run.id, timeout=900).state_name == "Completed"
    checks.tracked_on_the_stacks_mlflow(prefect_stack, "by-hand", dask_run[0].metrics, 120)


def test_production_run_matches_the_mock_engine_bit_for_bit(dask_run, reference):
    run, _ = dask_run
    checks.same_outputs_as_the_mock(run, reference)
    assert run.settings["database"] == "postgres"


def test_the_tuning_fan_out_ran_on_both_dask_workers(dask_run):
    """The mapped step's task runs went to the Dask cluster, one candidate per worker; the chain
    ran in the flow-run process (only submitted or mapped tasks reach a task runner)."""
    run, executed = dask_run
    candidates = len(config_in(run.run_dir.parent.parent).tuning.candidates())
    assert executed == {
        "worker1": Counter(tune_model=1),
        "worker2": Counter(tune_model=1),
    }, executed
    assert candidates == 2 and sum(c["tune_model"] for c in executed.values()) == candidates


def test_the_flow_run_page_shows_the_run_and_its_tasks(dask_run, tmp_path):
    """Prefect's UI on the run's page: its name, its state and as many task runs as the API
    holds. The task graph is a canvas, so its task names are pixels, not DOM text: the picture
    (docs/production/prefect-flow-run.png) shows them."""
    run, _ = dask_run
    flow_run_id = run.settings["ui_run"].rsplit("/", 1)[1]
    with production.connected():
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        with get_client(sync_client=True) as client:
            only = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            task_runs = client.read_task_runs(flow_run_filter=only, limit=200)
    assert {r.name.rsplit("-", 1)[0] for r in task_runs} == set(run.tasks)
    page = checks.screenshot(run.settings["ui_run"], tmp_path / "prefect-flow-run.png")
    assert run.run_id in page and "Completed" in page
    assert f"{len(task_runs)} Task runs" in page


def test_the_recommender_matches_the_mock_engine(prefect_stack, recsys_reference, tmp_path):
    checks.recsys_matches_the_mock("prefect", prefect_stack, recsys_reference, tmp_path)


def test_a_failed_production_run_mails_once(prefect_stack, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(DATA.read_text().replace("2012/01/05,1.3,", "2012/01/05,,"))
    run = production_run("prefect", tmp_path, "prefect-bad-data", data__path=str(bad))
    assert run.failed_step == "validate_data"
    assert [a["run_id"] for a in read_alerts(tmp_path / "alerts.jsonl")] == [run.run_id]
    (mail,) = stack_mail(prefect_stack, run.run_id)
    check_alert_mail(
        mail,
        engine="prefect",
        run_id=run.run_id,
        step="validate_data",
        error=run.error,
        link=run.settings["ui_run"],  # the run's log is in Prefect's API: linked, not attached
    )


@pytest.mark.long
def test_the_daily_deployment_backfills_one_run_per_date(prefect_stack, tmp_path):
    """`ml_pipeline_daily/daily` runs on a cron schedule; a backfill is one run per past date
    (`scheduled_time`), each training on the rows before its own date."""
    days = [datetime(2014, 6, d, tzinfo=UTC) for d in (1, 2, 3)]
    cfg = config_in(tmp_path, cache__enabled=False)
    with production.connected():
        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment

        with get_client(sync_client=True) as client:
            daily = client.read_deployment_by_name(DAILY)
        assert [s.schedule.cron for s in daily.schedules] == ["0 0 * * *"]
        flow_runs = [
            run_deployment(DAILY, parameters={"cfg": cfg}, scheduled_time=day, timeout=0)
            for day in days
        ]
        finals = [production.follow(r.id, timeout=1200) for r in flow_runs]
    assert [r.state_name for r in finals] == ["Completed"] * 3
    assert [r.name for r in finals] == ["daily-2014-06-01", "daily-2014-06-02", "daily-2014-06-03"]
    seen = [
        artifacts.read_json(tmp_path / "runs" / r.name / "validate_data" / "validation.json")
        for r in finals
    ]
    assert [s["time_range"][1][:10] for s in seen] == ["2014-05-31", "2014-06-01", "2014-06-02"]
    names = [r.name for r in finals]  # logged by the deployment's hook, run by run
    assert tracked_statuses(cfg, names) == dict.fromkeys(names, "FINISHED")


def test_the_servers_scheduler_creates_the_coming_days_runs(prefect_stack):
    """The server's scheduler service creates the daily deployment's next runs, one day apart.
    It fails under SQLAlchemy 2.1 ("Can't evaluate bulk DML statement", the reason the
    prefect-prod lock pins 2.0): fail at once if the server's log shows that."""
    server_log = Path(next(c.log for c in prefect_stack.components if c.name == "server"))
    with production.connected():
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            daily = client.read_deployment_by_name(DAILY)

            def decided() -> bool:
                assert "Can't evaluate bulk DML" not in server_log.read_text(errors="replace")
                return len(_scheduled(client, daily.id)) >= 2

            _wait(decided, 150)
            first, second = [r.expected_start_time for r in _scheduled(client, daily.id)][:2]
    assert second - first == timedelta(days=1) and first > datetime.now(UTC)


@pytest.mark.long
def test_a_cron_schedule_fires_and_the_runner_runs_it(prefect_stack):
    """A second cron schedule on the daily deployment, for the next whole minute at least 25 s
    away: the scheduler creates that run, the runner starts it at its time, it completes with
    the stack's scheduled config (outputs under the stack's home) and its registry is intact."""
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.client.schemas.schedules import CronSchedule

    now = datetime.now(UTC)
    at = (now + timedelta(seconds=85)).replace(second=0, microsecond=0)
    with production.connected():
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            daily = client.read_deployment_by_name(DAILY)
            cron = CronSchedule(cron=f"{at.minute} {at.hour} * * *", timezone="UTC")
            (added,) = client.create_deployment_schedules(daily.id, [(cron, True)])
            try:
                # Touch the deployment: the recently-updated scheduler (every 5 s) schedules it
                # at once; the main loop (every 60 s) could be too late for the next minute.
                client.update_deployment(daily.id, DeploymentUpdate(paused=False))
                _wait(lambda: at in [r.expected_start_time for r in _scheduled(client, daily.id)])
                (fired,) = [r for r in _scheduled(client, daily.id) if r.expected_start_time == at]
                final = production.follow(fired.id, timeout=900)
            finally:  # after the run: deleting a schedule deletes the runs it scheduled
                client.delete_deployment_schedule(daily.id, added.id)
    assert final.state_name == "Completed", final.state.message
    assert final.name == f"daily-{at.date().isoformat()}"
    assert final.start_time >= at - timedelta(seconds=10)  # the runner prefetches 10 s
    assert (prefect_stack.home / "runs" / final.name / "train_model" / "model.ubj").exists()
    assert registry_intact(prefect_stack.home / "registry")


def _scheduled(client, deployment_id) -> list:
    """The deployment's runs still Scheduled, earliest first."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    only = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    runs = client.read_flow_runs(deployment_filter=only)
    return sorted(
        (r for r in runs if r.state_name == "Scheduled"), key=lambda r: r.expected_start_time
    )


def test_a_killed_flow_run_process_crashes_the_run_with_one_alert(prefect_stack, tmp_path):
    """SIGKILL the flow run's own process (`python -m prefect.engine`, the runner's child) in
    the middle of its chain: the runner sees it exit, marks the run Crashed and runs the flow's
    on_crashed hook: one JSONL alert, one e-mail; the registry holds nothing half-written."""
    cfg = config_in(tmp_path, cache__enabled=False, **HELD)
    cfg = stacks.with_stack_alerts(cfg, prefect_stack.env)
    runner = next(c for c in prefect_stack.components if c.name == "runner")
    with production.connected():
        flow_run = _running(cfg, "flow-process-killed")
        held = tmp_path / "runs/flow-process-killed/faults/train_model.attempts"
        _wait(held.exists, 300)  # its first attempt failed: waiting for the retry
        pid = _flow_run_process(runner.pid, flow_run.id)
        os.kill(pid, signal.SIGKILL)
        final = production.follow(flow_run.id, timeout=300)
    assert final.state_name == "Crashed", final.state_name
    assert "-9" in final.state.message
    # The runner runs the on_crashed hook after it has set the Crashed state: wait for it.
    (alert,) = alerts_of(cfg.alerts.log, 1, timeout=60)
    assert alert["run_id"] == "flow-process-killed" and "-9" in alert["error"]
    assert len(stack_mail(prefect_stack, "flow-process-killed")) == 1
    registry_intact(tmp_path / "registry")


# Holds a run mid-chain: `train_model` fails its first attempt and waits 60 s for its retry,
# in the flow-run process. A fixed sleep was not enough: on a quiet machine the small run had
# finished before it ran out, and the kill hit the end-of-run hook (1 December 2026).
HELD = {
    "faults": {"train_model": 1},
    "orchestration__retry_delay_seconds": 60.0,
    "orchestration__retry_max_delay_seconds": 60.0,
}


def _running(cfg, run_id: str):
    """A run of the production deployment (inside `production.connected()`), once Running."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    flow_run = run_deployment(
        production.deployment_of(pipelines.get("weather")),
        parameters={"cfg": cfg, "run_id": run_id},
        flow_run_name=run_id,
        timeout=0,
    )
    with get_client(sync_client=True) as client:
        _wait(lambda: client.read_flow_run(flow_run.id).state_name == "Running", 600)
    return flow_run


def _flow_run_process(runner_pid: int, flow_run_id) -> int:
    """The process executing the flow run, a child of the runner: `python -m prefect.engine`
    with the run's id in its environment, or, when the runner holds the flow object itself, a
    multiprocessing child (`spawn_main`, the id set only inside it: the tests run one flow run
    at a time, so it is the one such child)."""
    from mlpipeline.stack import procs

    mark = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()

    def candidates() -> tuple[list[int], list[int]]:
        marked, spawned = [], []
        for pid in procs.group_members(runner_pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if mark in environ:
                marked.append(pid)
            elif b"spawn_main" in argv:
                spawned.append(pid)
        return marked, spawned

    _wait(lambda: sum(map(len, candidates())) > 0, 60)
    marked, spawned = candidates()
    (pid,) = marked or spawned
    return pid


@pytest.mark.long
def test_killing_the_runner_mid_run_finishes_the_run(prefect_stack, tmp_path):
    """SIGKILL the runner (the process serving the deployment) while a flow run it started is
    under way, start it again: the flow-run process outlives its parent and finishes the run;
    the registry holds one intact model; the new runner serves the deployment."""
    cfg = config_in(tmp_path, cache__enabled=False)
    with production.connected():
        flow_run = _running(cfg, "killed")
        time.sleep(2)  # into the chain of tasks
        runner = next(c for c in prefect_stack.components if c.name == "runner")
        os.kill(runner.pid, signal.SIGKILL)
        _wait(lambda: not _alive(runner.pid))
        stacks.restart("prefect", "runner")
        final = production.follow(flow_run.id, timeout=900)
    alerts = read_alerts(cfg.alerts.log)
    if final.state_name == "Completed":
        assert alerts == [] and registry_intact(tmp_path / "registry") == [1]
    else:  # the other allowed outcome: failed, with exactly one alert, nothing half-written
        assert len(alerts) == 1, (final.state_name, alerts)
        registry_intact(tmp_path / "registry")
    _wait(lambda: set(stacks.status("prefect")["health"].values()) == {"healthy"}, 300)


@pytest.mark.long
def test_a_run_whose_process_died_unwatched_is_crashed_and_alerted_once(prefect_stack, tmp_path):
    """SIGKILL the runner, then the flow-run process it left behind (a lost machine): nothing
    watches the run. Once its heartbeats stop, the automation (prefect_impl.production_crashes)
    marks it Crashed and queues the alert deployment, which the restarted runner executes: one
    JSONL alert, one e-mail, the registry intact."""
    from prefect_impl.production_crashes import SILENCE

    cfg = stacks.with_stack_alerts(config_in(tmp_path, cache__enabled=False), prefect_stack.env)
    runner = next(c for c in stacks.Stack.load("prefect").components if c.name == "runner")
    with production.connected():
        from prefect.client.orchestration import get_client

        flow_run = _running(cfg, "unwatched")
        with get_client(sync_client=True) as client:
            _wait(lambda: _heartbeats(prefect_stack, flow_run.id) > 0, 60)
            pid = _flow_run_process(runner.pid, flow_run.id)
            os.kill(runner.pid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _alive(runner.pid) and not _alive(pid))
            silent = time.monotonic()
            _wait(lambda: client.read_flow_run(flow_run.id).state_name == "Crashed", 300)
            assert time.monotonic() - silent > SILENCE.total_seconds() - 35  # a beat was due
        stacks.restart("prefect", "runner")
        _wait(lambda: read_alerts(cfg.alerts.log), 300)
    time.sleep(5)  # a second alert would come now
    (alert,) = read_alerts(cfg.alerts.log)
    assert alert["run_id"] == "unwatched" and "No heartbeat" in alert["error"]
    assert len(stack_mail(prefect_stack, "unwatched")) == 1
    registry_intact(tmp_path / "registry")


def _heartbeats(stack: stacks.Stack, flow_run_id) -> int:
    """How many heartbeat events of this flow run the server holds."""
    import json
    import urllib.request

    query = {
        "filter": {
            "event": {"name": ["prefect.flow-run.heartbeat"]},
            "resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
        }
    }
    request = urllib.request.Request(
        f"{stack.env['PREFECT_API_URL']}/events/filter",
        json.dumps(query).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["total"]


def _alive(pid: int) -> bool:
    from mlpipeline.stack import procs

    return procs.alive(pid)


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_down_leaves_no_process_and_no_port(prefect_stack):  # last: it stops the stack
    checks.down_leaves_nothing("prefect", prefect_stack)
