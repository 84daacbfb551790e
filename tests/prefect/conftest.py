"""Prefect set-up for the tests: one API server for the whole session, `prefect_test_harness()`.

Prefect reads its settings when first imported, so they are set here, before any test module
imports it: a throwaway PREFECT_HOME (never the user's ``~/.prefect``) and quiet logs. The
harness keeps its database in a SQLite file (it sets that itself), which stalls now and then on
database locks; README.md gives the measured cost. The session stays on the harness's server
after the last test of this directory, so `tests/contract` (run next by `tox -e prefect`) uses
it too; run alone, the contract tests get the ephemeral server the runner falls back to.

Nothing here imports Prefect at the top: where it is not installed (`tox -e mock`) every test
module skips itself with `pytest.importorskip`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from mlpipeline.config import PipelineConfig
from mlpipeline.graph import STEPS

if TYPE_CHECKING:
    from prefect.client.schemas.objects import TaskRun
    from prefect.states import State

HOME = tempfile.mkdtemp(prefix="prefect-test-home-")
atexit.register(shutil.rmtree, HOME, ignore_errors=True)
os.environ["PREFECT_HOME"] = HOME
for key, value in {
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # As the runner sets it for the CLI: failed tasks' tracebacks are not for the console.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}.items():
    os.environ.setdefault(key, value)


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # The runner turns the heartbeat off itself; flows called directly in tests need it too.
    no_heartbeat = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    # 240 s: under load (7 agents on 2 cores) the server took 80 s to answer; 60 s timed out.
    with prefect_test_harness(server_startup_timeout=240), temporary_settings(updates=no_heartbeat):
        yield


@dataclass
class FlowRun:
    """A flow run called directly, with its task runs read back from the API."""

    state: State
    runs: list[TaskRun]

    def states(self) -> dict[str, list[str]]:
        """Step -> the state name of each of its task runs (several for tune_model)."""
        from prefect_impl.task_runs import step_name

        found: dict[str, list[str]] = {}
        for run in self.runs:
            found.setdefault(step_name(run), []).append(run.state.name)
        return {name: sorted(found[name]) for name in STEPS if name in found}

    def runs_of(self, step: str) -> list[TaskRun]:
        from prefect_impl.task_runs import step_name

        return sorted((r for r in self.runs if step_name(r) == step), key=lambda r: r.name)


def run_flow(cfg: PipelineConfig, run_id: str, expected: int | None = None) -> FlowRun:
    """Call the flow as a learner would; `expected`: task runs to wait for (default: all)."""
    from prefect_impl.flow import ml_pipeline
    from prefect_impl.task_runs import read_task_runs

    state = ml_pipeline(cfg, run_id, return_state=True)
    if expected is None:
        expected = len(STEPS) - 1 + len(cfg.tuning.candidates())
    return FlowRun(state, read_task_runs(state.state_details.flow_run_id, expected))
