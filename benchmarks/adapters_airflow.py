"""Apache Airflow 3 under the benchmark scenarios: each scenario is a DAG file run by dag.test().

dag.test() re-parses the whole dags folder on every run, so the benchmark process gets a private
one (``$AIRFLOW_HOME/dags``) that holds only the DAG about to run: a timing includes parsing its
own DAG file, never the other scenarios'. Measured warm: a one-task chain took 0.07 s alone in
the folder and 0.5 s beside the other scenarios' DAGs and the pipeline's. The tests' dags folder
never sees a benchmark DAG.

Variants: ``default`` is Airflow as shipped (``logging_level = INFO``); ``tuned`` logs at
WARNING (10-15 % less time on a 10-task chain). SQLite's ``synchronous`` pragma made no
measurable difference: the time goes to the in-process execution API (about five HTTP requests
per task), which has no knob.

Retries: flaky() maps delay and backoff as the pipeline DAG does (``retry_delay = delay``,
``retry_exponential_backoff = backoff``, and no backoff for a zero delay, which Airflow would
otherwise round up to 1 s). What Airflow does with them: each wait falls between m and 2m
seconds, m = delay * backoff**(try - 1) rounded up to at least 1 s (its own deterministic jitter),
capped by max_retry_delay; and dag.test() looks for runnable tasks once a second. Configured
waits of 0.1 s and 0.2 s therefore take about 1-2 s each.

With ``BENCH_COLD_HOME`` set (``python -m benchmarks.cold``), that fresh directory is the home.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.adapters import Outcome, Shape
from mlpipeline.config import PipelineConfig
from mlpipeline.runs import RunResult

LEVELS = {"default": "INFO", "tuned": "WARNING"}

CHAIN = """
from airflow.sdk import dag, task

from benchmarks.adapters import noop


@dag(dag_id="bench_chain", schedule=None, catchup=False)
def bench_chain():
    step = task(noop)
    x = step.override(task_id="t0")()
    for i in range(1, {n}):
        x = step.override(task_id=f"t{{i}}")(x)


bench_chain()
"""

FANOUT = """
from airflow.sdk import dag, task

from benchmarks.adapters import noop


@task
def item(i: int) -> int:
    return noop(i) - 1


@task
def join(values) -> int:
    return sum(values[:])  # one request; iterating asks per item, then logs a 404 error


@dag(dag_id="bench_fanout", schedule=None, catchup=False)
def bench_fanout():
    join(item.expand(i=list(range({k}))))  # dynamic task mapping: Airflow's fan-out


bench_fanout()
"""

FLAKY = """
from datetime import timedelta
from pathlib import Path

from airflow.sdk import Param, dag, task

from benchmarks.adapters import flaky_body


@task(
    retries={failures},
    retry_delay=timedelta(seconds={delay}),
    retry_exponential_backoff={backoff},
    max_retry_delay=timedelta(hours=1),
)
def flaky(**context) -> str:
    return flaky_body({failures}, Path(context["params"]["workdir"]))


@dag(dag_id="bench_flaky", schedule=None, params={{"workdir": Param("", type="string")}})
def bench_flaky():
    flaky()


bench_flaky()
"""

# The weather DAG's shape (airflow_impl/dags/ml_pipeline.py) with plain no-op tasks: no params,
# no callbacks, no config. `bare()` checks it against the pipeline's declared shape.
BARE = """
from airflow.sdk import dag, task


@task
def load_data():
    return "raw"


@task
def validate_data(raw):
    return "validated"


@task
def build_features(validated):
    return "features"


@task
def split_data(features):
    return "split"


@task
def tune_model(split, candidate):
    return "tuning"


@task
def train_model(split, tuning):
    return "model"


@task
def evaluate_model(model, split):
    return "metrics"


@task
def gate_model(metrics, split):
    return "gate"


@task
def register_model(model, gate):
    return "registration"


@task
def integration_test(registration, metrics, split):
    return "report"


@task
def promote_model(gate, report):
    return "promotion"


@dag(dag_id="bench_bare", schedule=None, catchup=False)
def bench_bare():
    raw = load_data()
    features = build_features(validate_data(raw))
    split = split_data(features)
    tuning = tune_model.partial(split=split).expand(candidate=list(range({width})))
    model = train_model(split, tuning)
    metrics = evaluate_model(model, split)
    gate = gate_model(metrics, split)
    report = integration_test(register_model(model, gate), metrics, split)
    promote_model(gate, report)


bench_bare()
"""


class AirflowAdapter:
    engine = "airflow"

    def __init__(self, variant: str = "default"):
        self.variant = variant
        self.level = LEVELS[variant]
        self.settings: dict[str, Any] = {
            "logging_level": self.level,
            "runs_with": "dag.test() in-process, tasks one at a time",
            "database": "sqlite",
            "dags_folder": "private, holding only the DAG being run",
        }
        self._dags: dict[str, Any] = {}  # DAG file text -> parsed DAG, reused across rounds

    def start(self) -> None:
        from airflow_impl import runner

        os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = self.level
        if "airflow" in sys.modules:  # imported already: by an earlier variant, or cold.py
            _set_logging_level(self.level)
        else:  # never the user's own home: a fresh one, with its own dags folder
            home = Path(os.environ.get("BENCH_COLD_HOME") or tempfile.mkdtemp(prefix="bench-af-"))
            os.environ["AIRFLOW_HOME"] = str(home)
            os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(home / "dags")
        runner.prepare(os.environ.get("AIRFLOW_HOME", "~/airflow"))  # refuses the latter
        # Airflow has read it; the cold-start subprocesses must not inherit it.
        os.environ.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
        self.folder = runner.dags_folder()
        self.folder.mkdir(parents=True, exist_ok=True)

    def stop(self) -> None:
        self._dags.clear()

    def _alone(self, name: str, text: str) -> Path:
        """Make `name` the only DAG file in the private folder."""
        path = self.folder / name
        for other in self.folder.glob("*.py"):
            if other != path:
                other.unlink()
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        return path

    def _run(self, text: str, dag_id: str, **conf: Any) -> str:
        """Run the DAG in this file text; return Airflow's run id."""
        from airflow.dag_processing.dagbag import DagBag

        # A file name per text: Python's bytecode cache compares only mtime and size, so a file
        # rewritten within a second at the same length (retries=0 -> 1) would run the old code.
        path = self._alone(f"{dag_id}_{hashlib.sha256(text.encode()).hexdigest()[:12]}.py", text)
        if text not in self._dags:
            self._dags[text] = DagBag(dag_folder=path).get_dag(dag_id)
        dag_run = self._dags[text].test(run_conf=conf)  # every param given: none leaks
        assert dag_run.state == "success", f"{dag_id} run {dag_run.run_id}: {dag_run.state}"
        return dag_run.run_id

    def _outcome(self, dag_id: str, run_id: str, last: str) -> Outcome:
        from airflow.models import TaskInstance
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            tis = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
                )
            ).all()
            attempts: dict[str, int] = {}
            for ti in tis:  # a mapped task: the most tries any of its instances took
                attempts[ti.task_id] = max(attempts.get(ti.task_id, 0), ti.try_number)
            done = sum(str(ti.state) == "success" for ti in tis)
            (row,) = session.scalars(
                XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=last, key="return_value")
            )
            value = XComModel.deserialize_value(row)
        return Outcome(value, attempts, done)

    def chain(self, n: int) -> Outcome:
        run_id = self._run(CHAIN.format(n=n), "bench_chain")
        return self._outcome("bench_chain", run_id, f"t{n - 1}")

    def fanout(self, k: int) -> Outcome:
        run_id = self._run(FANOUT.format(k=k), "bench_fanout")
        return self._outcome("bench_fanout", run_id, "join")

    def flaky(self, failures: int, delay: float, backoff: float, workdir: Path) -> Outcome:
        text = FLAKY.format(failures=failures, delay=delay, backoff=backoff if delay > 0 else 0)
        run_id = self._run(text, "bench_flaky", workdir=str(workdir))
        return self._outcome("bench_flaky", run_id, "flaky")

    def bare(self, shape: Shape) -> Outcome:
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        text = BARE.format(width=shape.width)
        run_id = self._run(text, "bench_bare")
        dag = self._dags[text]
        edges = {(up, t.task_id) for t in dag.tasks for up in t.upstream_task_ids}
        declared = {(up, n) for n in shape.names for up in shape.inputs[n].values()}
        assert edges == declared, f"the bare DAG's edges differ: {edges ^ declared}"
        with create_session() as session:
            tis = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == "bench_bare", TaskInstance.run_id == run_id
                )
            ).all()
            done = [ti for ti in tis if str(ti.state) == "success"]
            return Outcome(
                sum(ti.task_id == shape.mapped for ti in done),
                tasks=len(done),
                span=(
                    max(ti.end_date for ti in done) - min(ti.start_date for ti in done)
                ).total_seconds(),
            )

    def pipeline(self, cfg: PipelineConfig, run_id: str) -> RunResult:
        from airflow_impl import runner
        from mlpipeline import pipelines

        name = f"{pipelines.for_config(cfg).dag_id}.py"
        self._alone(name, (runner.DAGS / name).read_text())
        return runner.run_pipeline(cfg, run_id=run_id)


def _set_logging_level(level: str) -> None:
    """Re-apply Airflow's logging config at another level, in a process that imported it."""
    from airflow.configuration import conf
    from airflow.logging_config import configure_logging

    conf.set("logging", "logging_level", level)
    configure_logging()
