"""A real SMTP server on loopback for the alert tests: aiosmtpd's `Controller` (SMTP over TCP,
served by a thread of the test process), storing every message in a Maildir, read back with the
same reader as the production stacks' SMTP component (`mlpipeline.stack.smtp.messages`).

One server per test session (`smtp_sink` in tests/conftest.py); tests tell their messages apart
by run id, which every alert's subject carries.
"""

from __future__ import annotations

import socket
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mlpipeline.stack import procs, smtp

PORTS = range(18520, 18600)  # this project's loopback range for test SMTP servers


class SmtpSink:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.port = 0
        self.controller: Any = None

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox

        for port in PORTS:  # another session may hold a port: take the next
            if procs.port_in_use(port):
                continue
            controller = Controller(Mailbox(self.maildir), hostname=procs.HOST, port=port)
            try:
                controller.start()
            except (OSError, RuntimeError):
                continue
            self.controller, self.port = controller, port
            return self
        raise RuntimeError(f"no free port for the test SMTP server in {PORTS}")

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def config(self) -> dict[str, Any]:
        """`config_in` overrides that make a run alert to this server."""
        return {
            "alerts__smtp_host": procs.HOST,
            "alerts__smtp_port": self.port,
            "alerts__email_to": ["ops@example.org"],
        }

    def messages_for(self, run_id: str) -> list[EmailMessage]:
        return [m for m in smtp.messages(self.maildir) if f" run {run_id} " in m["Subject"]]


def closed_port() -> int:
    """A loopback port nobody listens on (an SMTP server that is down)."""
    with socket.socket() as s:
        s.bind((procs.HOST, 0))
        return s.getsockname()[1]


def check_alert_mail(
    message: EmailMessage, *, engine: str, run_id: str, step: str, error: str, link: str = ""
):
    """The one e-mail of a failed run: who, where, what, and the log: its tail attached, or,
    with `link` (a Prefect deployment run keeps its log in Prefect's API, not in a file), the
    page of the run in the UI."""
    assert message["Subject"] == f"[{engine}] pipeline run {run_id} failed at {step}"
    body = message.get_body(("plain",)).get_content()
    assert f"run id:  {run_id}" in body and f"step:    {step}" in body
    assert error in body
    if link:
        assert link in body, body
        return
    assert "run.log" in body and "lines attached" in body
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "run.log"
    assert attachment.get_content().strip(), "the log's tail is empty"
