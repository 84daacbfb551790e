"""Alerting: a notifier is called exactly once per failed run, by each engine's own hook.

The default writes one JSON line per alert to the configured log (under a lock, fsynced) and
prints one line to stderr; with `alerts.smtp_host` and `alerts.email_to` set it also sends one
e-mail: the run id, the failed step, the whole error and the log location in the body, the
tail of the run's log attached (`run.log`, the last `LOG_TAIL_LINES` lines), so the person on
call can start without a shell on the machine. An e-mail that cannot be delivered (server down)
is reported on stderr and changes nothing else: the JSONL alert is written first, and the run's
own failure message never depends on the alert.
"""

from __future__ import annotations

import smtplib
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from mlpipeline import artifacts
from mlpipeline.config import PipelineConfig
from mlpipeline.runs import TaskRecord, first_failure


@dataclass(frozen=True)
class Alert:
    engine: str
    run_id: str
    step: str | None  # None when the run failed outside any step
    error: str
    log_location: str
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def summary(self) -> str:
        return (
            f"ALERT [{self.engine}] run {self.run_id} failed at step "
            f"{self.step or '(none)'}: {self.error.splitlines()[0]} (log: {self.log_location})"
        )


class Notifier(Protocol):
    def notify(self, alert: Alert) -> None: ...


class JsonlNotifier:
    def __init__(self, path: str | Path, echo: bool = True):
        self.path = Path(path)
        self.echo = echo

    def notify(self, alert: Alert) -> None:
        artifacts.append_jsonl(self.path, asdict(alert))
        if self.echo:
            print(alert.summary(), file=sys.stderr)


LOG_TAIL_LINES = 200


def log_file(alert: Alert) -> Path:
    """The log file named by an alert: its location's path part (Prefect's adds " and <UI
    URL>", see prefect_impl.hooks.log_location)."""
    return Path(alert.log_location.split(" and ", 1)[0])


def email(alert: Alert, sender: str, to: tuple[str, ...]) -> EmailMessage:
    """The alert as one e-mail: the facts in the body, the log's tail attached."""
    msg = EmailMessage()
    msg["Subject"] = (
        f"[{alert.engine}] pipeline run {alert.run_id} failed at {alert.step or 'start'}"
    )
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    try:
        tail = log_file(alert).read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError as e:  # the notifier may run where the log is not (another machine)
        tail, note = None, f"(log not readable here: {e.strerror})"
    else:
        note = f"(last {len(tail)} lines attached)"
    msg.set_content(
        f"{alert.summary()}\n\n"
        f"engine:  {alert.engine}\nrun id:  {alert.run_id}\nstep:    {alert.step or '(none)'}\n"
        f"time:    {alert.time}\nlog:     {alert.log_location} {note}\n\n"
        f"error:\n{alert.error}\n"
    )
    if tail is not None:
        msg.add_attachment("\n".join(tail) + "\n", filename=log_file(alert).name)
    return msg


class SmtpNotifier:
    def __init__(
        self, host: str, port: int, to: tuple[str, ...], sender: str = "pipeline@localhost"
    ):
        self.host, self.port, self.to, self.sender = host, port, to, sender

    def notify(self, alert: Alert) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(email(alert, self.sender, self.to))


class Notifiers:
    """Several notifiers as one; each is tried even if an earlier one raises."""

    def __init__(self, *notifiers: Notifier):
        self.notifiers = notifiers

    def notify(self, alert: Alert) -> None:
        errors = []
        for n in self.notifiers:
            try:
                n.notify(alert)
            except Exception as e:  # an alert channel down must not hide the others
                errors.append(f"{type(n).__name__}: {e}")
        if errors:
            print(f"alert delivery failed: {'; '.join(errors)}", file=sys.stderr)


def notifier_for(cfg: PipelineConfig) -> Notifier:
    notifiers: list[Notifier] = [JsonlNotifier(cfg.alerts.log)]
    if cfg.alerts.smtp_host and cfg.alerts.email_to:
        notifiers.append(
            SmtpNotifier(cfg.alerts.smtp_host, cfg.alerts.smtp_port, cfg.alerts.email_to)
        )
    return Notifiers(*notifiers)


def alert_failed_run(
    cfg: PipelineConfig,
    *,
    engine: str,
    run_id: str,
    tasks: dict[str, TaskRecord],
    order: tuple[str, ...],
    log_location: str,
    fallback: str = "the run failed",
) -> Alert:
    """The one alert of a failed run, naming the first step that failed (every engine's hook
    calls this once: the mock's and Airflow's DAG callback, Prefect's flow on_failure)."""
    failed = first_failure(tasks, order)
    alert = Alert(
        engine=engine,
        run_id=run_id,
        step=failed.name if failed else None,
        error=failed.error if failed and failed.error else fallback,
        log_location=log_location,
    )
    notifier_for(cfg).notify(alert)
    return alert


def read_alerts(path: str | Path) -> list[dict]:
    return artifacts.read_jsonl(path)
