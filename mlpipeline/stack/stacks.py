"""`stack up|status|down`: start an engine's real components on loopback, report their health,
stop them all.

State lives in `var/stack/<engine>/`: `pids.json` (components in start order, each the leader
of its own process group, with its port and log), `logs/`, the engine's home. `down` needs only
that file, so it works after the CLI that ran `up` crashed. Components start in order and
`up` fails fast: the first one that dies or is not healthy in time is named with its log tail,
and everything already started is stopped again.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpipeline.stack import mlflow_server, postgres, procs, smtp
from mlpipeline.stack.procs import Component, StackError

ROOT_ENV = "MLPIPELINE_STACK_ROOT"  # where stacks keep their state; tests point it elsewhere


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "var/stack"))


ENGINES = {"airflow": "mlpipeline.stack.airflow_stack", "prefect": "mlpipeline.stack.prefect_stack"}
EXECUTORS = {"airflow": ("local", "celery"), "prefect": ("local", "dask")}


@dataclass
class Stack:
    """One engine's running stack, as recorded in its pid file."""

    engine: str
    home: Path  # var/stack/<engine>
    executor: str = "local"
    workers: int = 1
    tuned: bool = False
    schedules: bool = True  # False: only triggered runs (tests, benchmarks)
    small: bool = False  # scheduled config with the small overlay (configs/small/): tests
    ports: dict[str, int] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # what a client needs (API URL, ...)
    started: float = 0.0
    ready_seconds: float | None = None

    @property
    def pid_file(self) -> Path:
        return self.home / "pids.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def save(self) -> None:
        state = {k: v for k, v in self.__dict__.items() if k != "components"}
        state["components"] = [c.__dict__ for c in self.components]
        procs.write_state(self.pid_file, state)

    @classmethod
    def load(cls, engine: str, root: Path | None = None) -> Stack | None:
        root = root or default_root()
        state = procs.read_state(Path(root) / engine / "pids.json")
        if not state:
            return None
        state["home"] = Path(state["home"])
        state["components"] = [Component(**c) for c in state["components"]]
        return cls(**state)

    def launch(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        port: int | None = None,
        ready: Callable[[], bool] | None = None,
        timeout: float = 120.0,
        user: str | None = None,
    ) -> Component:
        """Start a component, record it at once (so `down` finds it), wait until it is ready."""
        component = procs.start(name, argv, env, self.logs, port=port, user=user)
        self.components.append(component)
        self.save()
        if ready is not None:
            if port is not None:  # another program on the port would answer for us: make sure
                check = ready  # the listener is ours (two stacks can pick a port at once)

                def ready() -> bool:
                    return port in procs.listening_ports([component.pid]) and check()

            procs.wait_until(component, ready, timeout, "healthy")
            self.save()
        return component

    def wait(
        self,
        ready: Callable[[], bool],
        timeout: float,
        what: str,
        report: Callable[[], object] | None = None,
    ) -> None:
        """Until `ready` holds; fail naming the first component that died (with its log tail),
        or, after `timeout`, with the last health report."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except (OSError, ValueError, KeyError):
                pass
            for c in self.components:
                if not procs.group_members(c.pid):
                    raise StackError(f"{c.name} exited while starting\n{procs.log_tail(c)}")
            if time.monotonic() > deadline:
                try:
                    last = report() if report else None
                except (OSError, ValueError, KeyError) as e:
                    last = e
                raise StackError(f"{self.engine} stack not {what} after {timeout:.0f} s: {last}")
            time.sleep(0.5)

    def pgids(self) -> list[int]:
        return [c.pid for c in self.components]

    def rss_bytes(self) -> int:
        return procs.rss_bytes(self.pgids())


def engine_module(engine: str):
    if engine not in ENGINES:
        raise StackError(f"unknown engine {engine!r}; stacks: {', '.join(ENGINES)}")
    return importlib.import_module(ENGINES[engine])


def up(
    engine: str,
    executor: str = "local",
    workers: int = 1,
    tuned: bool = False,
    root: Path | None = None,
    schedules: bool = True,
    small: bool = False,
) -> Stack:
    """Start the stack; refuse if one is recorded and alive, clean up a dead one first.
    `small`: the scheduled config (which also fixes the Airflow DAG's parse-time tuning fan-out,
    so triggered runs must use the same grid) gets the small overlay, as the tests' runs."""
    root = root or default_root()
    module = engine_module(engine)
    if executor not in EXECUTORS[engine]:
        raise StackError(
            f"{engine}: executor {executor!r} not supported; choose {'|'.join(EXECUTORS[engine])}"
        )
    existing = Stack.load(engine, root)
    if existing and any(procs.group_members(c.pid) for c in existing.components):
        raise StackError(
            f"a {engine} stack is already up ({existing.pid_file}); "
            f"stop it first: python -m mlpipeline stack down --engine {engine}"
        )
    if existing:
        down(engine, root)
    home = (Path(root) / engine).resolve()
    stack = Stack(engine, home, executor, workers, tuned, schedules, small, started=time.time())
    stack.logs.mkdir(parents=True, exist_ok=True)
    try:
        stack.ports["postgres"] = procs.choose_port(module.PORTS["postgres"])
        db = postgres.start(home.parent / "postgres" / engine, stack.ports["postgres"], stack.logs)
        stack.components.append(db)
        stack.save()
        postgres.ensure_database(stack.ports["postgres"], engine)
        smtp.start(stack, env_for_children({}))
        mlflow_server.start(stack, env_for_children({}))  # before the engine: its config names it
        module.start(stack)
        mlflow_server.wait(stack)  # healthy by now, usually: it started alongside the engine
    except BaseException:
        stop_components(stack)
        stack.pid_file.unlink(missing_ok=True)
        raise
    stack.ready_seconds = round(time.time() - stack.started, 2)
    stack.save()
    return stack


def stop_components(stack: Stack) -> None:
    """Engine components first, newest first; Postgres (the first started) last."""
    for component in reversed(stack.components):
        if component.name == "postgres":
            postgres.stop(component)
        else:
            procs.stop_group(component.pid)


def down(engine: str, root: Path | None = None) -> tuple[Stack | None, set[int]]:
    """Stop everything the pid file names; return the stack and any of its ports still bound."""
    root = root or default_root()
    stack = Stack.load(engine, root)
    if stack is None:
        return None, set()
    stop_components(stack)
    leftovers = {p for p in stack.ports.values() if procs.port_in_use(p)}
    stack.pid_file.unlink(missing_ok=True)
    return stack, leftovers


def restart(engine: str, name: str, root: Path | None = None) -> Component:
    """Start one component again with its recorded command, after it died or was killed (the
    kill tests, or a person recovering a stack): its old entry in the pid file is replaced.
    Processes of the old group still alive (a Prefect flow run outliving its runner) are left
    to finish; `down` collects what is left of the old group only while it is recorded, so
    restart a component only after its old leader is gone."""
    root = root or default_root()
    stack = Stack.load(engine, root)
    if stack is None:
        raise StackError(f"no {engine} stack recorded under {root}")
    index = next((i for i, c in enumerate(stack.components) if c.name == name), None)
    if index is None:
        raise StackError(f"the {engine} stack has no component {name!r}")
    old = stack.components[index]
    if procs.alive(old.pid):
        raise StackError(f"{name} is still running (pid {old.pid}): stop it first")
    env = env_for_children(engine_module(engine).environment(stack))
    if name == "mlflow":
        env.update(mlflow_server.SERVER_ENV)
    new = procs.start(name, old.argv, env, stack.logs, port=old.port)
    stack.components[index] = new
    stack.save()
    return new


def status(engine: str, root: Path | None = None) -> dict[str, Any] | None:
    root = root or default_root()
    stack = Stack.load(engine, root)
    if stack is None:
        return None
    module = engine_module(engine)
    alive = {c.name: bool(procs.group_members(c.pid)) for c in stack.components}
    try:
        health = module.health(stack)
    except OSError as e:
        health = {"api": f"unreachable ({e})"}
    if "smtp" in stack.ports:
        health["smtp"] = "healthy" if _answers(smtp.greets, stack.ports["smtp"]) else "unhealthy"
    if "mlflow" in stack.ports:
        health["mlflow"] = (
            "healthy" if _answers(mlflow_server.healthy, stack.ports["mlflow"]) else "unhealthy"
        )
    return {
        "engine": engine,
        "executor": stack.executor,
        "workers": stack.workers,
        "tuned": stack.tuned,
        "ui": module.ui_url(stack),
        "mlflow": stack.env.get(mlflow_server.TRACKING_ENV, ""),
        "processes": alive,
        "health": health,
        "rss_mb": round(stack.rss_bytes() / 2**20),
        "ready_seconds": stack.ready_seconds,
        "pid_file": str(stack.pid_file),
        "mail": stack.env.get("MLPIPELINE_MAILDIR", ""),
    }


def _answers(check: Callable[[int], bool], port: int) -> bool:
    try:
        return check(port)
    except (OSError, ValueError):
        return False


def client_env(engine: str, root: Path | None = None) -> dict[str, str]:
    """What a client of a running stack needs (API URL, credentials); StackError if none is up."""
    root = root or default_root()
    stack = Stack.load(engine, root)
    if stack is None or not all(procs.group_members(c.pid) for c in stack.components):
        raise StackError(
            f"no {engine} stack is running ({Path(root) / engine / 'pids.json'}).\n"
            f"  start one: python -m mlpipeline stack up --engine {engine}\n"
            f"  (from the {engine}-prod environment: python3 dev.py test -e {engine}-prod "
            f"--notest builds it, then .tox/{engine}-prod/bin/python -m mlpipeline ...)"
        )
    return {**stack.env, "MLPIPELINE_STACK_HOME": str(stack.home)}


SCHEDULED_CONFIG_ENV = "ML_PIPELINE_CONFIG"  # = airflow_impl.CONFIG_ENV, read by both engines


def scheduled_config(stack: Stack) -> Path:
    """The config of scheduled runs, per pipeline, as flat params in `<home>/scheduled/<stem of
    its default config>.json` (the folder is what `SCHEDULED_CONFIG_ENV` names; see
    `scheduled_params`): the project config with every path under the stack's home (the weather
    pipeline's directly, another's under `<home>/<name>/`: scheduled runs never touch the
    registry of in-process runs), alerting by e-mail through the stack's SMTP server."""
    from mlpipeline import artifacts, pipelines, workspace

    folder = stack.home / "scheduled"
    for name in pipelines.PIPELINES:
        base = stack.home if name == pipelines.DEFAULT else stack.home / name
        overrides: dict[str, object] = {
            "alerts.log": str(stack.home / "alerts.jsonl"),
            "alerts.smtp_host": procs.HOST,
            "alerts.smtp_port": stack.ports["smtp"],
            "alerts.email_to": [smtp.RECIPIENT],
            "tracking.uri": stack.env.get(mlflow_server.TRACKING_ENV, ""),  # its MLflow server
        }
        cfg = workspace.config_in(base, overrides, pipeline=name, small=stack.small)
        default = pipelines.get(name).default_config
        artifacts.write_json(scheduled_params(folder, default), cfg.to_params())
    return folder


def scheduled_params(folder: str | Path, default_config: Path) -> Path:
    """A pipeline's scheduled params in the folder `scheduled_config` wrote."""
    return Path(folder) / f"{default_config.stem}.json"


def on_stack(cfg: Any, env: dict[str, str]) -> Any:
    """`cfg` for a run on the stack whose client env is `env`: alerts through its SMTP server
    (`with_stack_alerts`), tracking on its MLflow server (`with_stack_tracking`). The production
    runners apply it to the config they send (so the tasks' MLflow registry backend, if chosen,
    is the server's too) and log the finished run with it; `run --mode production` logs with it
    too (idempotent by run id: one MLflow run)."""
    return with_stack_tracking(with_stack_alerts(cfg, env), env)


def with_stack_tracking(cfg: Any, env: dict[str, str]) -> Any:
    """`cfg` tracking to the stack's MLflow server, unless it names a server of its own (a
    `tracking.uri` set in the config wins: a team's shared server) or has no [tracking]."""
    import dataclasses

    uri = env.get(mlflow_server.TRACKING_ENV)
    if not uri or getattr(cfg, "tracking", None) is None or cfg.tracking.uri:
        return cfg
    return dataclasses.replace(cfg, tracking=dataclasses.replace(cfg.tracking, uri=uri))


def with_stack_alerts(cfg: Any, env: dict[str, str]) -> Any:
    """`cfg` alerting by e-mail through the stack's SMTP server, unless it names a server of its
    own: a production run's failure reaches a mailbox even with the project's default config."""
    if cfg.alerts.smtp_host or "MLPIPELINE_SMTP" not in env:
        return cfg
    import dataclasses

    host, port = env["MLPIPELINE_SMTP"].rsplit(":", 1)
    alerts = dataclasses.replace(
        cfg.alerts,
        smtp_host=host,
        smtp_port=int(port),
        email_to=cfg.alerts.email_to or (smtp.RECIPIENT,),
    )
    return dataclasses.replace(cfg, alerts=alerts)


def env_for_children(extra: dict[str, str]) -> dict[str, str]:
    """The current environment plus `extra`: components run with the project's interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PREFECT"))}
    env.update(extra)
    return env


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)
