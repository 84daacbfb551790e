"""The stack's SMTP server: aiosmtpd (a maintained SMTP server library) as a component of its
own, so production runs alert by e-mail without a mail server on the machine.

It runs aiosmtpd's own command line (`python -m aiosmtpd -n -l HOST:PORT -c
aiosmtpd.handlers.Mailbox DIR`): every message it accepts is a file in the Maildir
`var/stack/<engine>/mail/`, read back by `messages()`. A real deployment points
`alerts.smtp_host` at the team's relay instead; the notifier does not change. Readiness is the
server's SMTP greeting (220), never a sleep.

Orchestrator-free and aiosmtpd-free: the server is started, never imported.
"""

from __future__ import annotations

import email
import email.policy
import socket
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

from mlpipeline.stack import procs

if TYPE_CHECKING:
    from mlpipeline.stack.stacks import Stack

PORTS = {"airflow": 18525, "prefect": 18526}  # both stacks can start at once
RECIPIENT = "ops@localhost"  # who the stack's runs alert, unless the config names someone


def argv(port: int, maildir: Path) -> list[str]:
    return [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{procs.HOST}:{port}"] + [
        "-c",
        "aiosmtpd.handlers.Mailbox",
        str(maildir),
    ]


def greets(port: int, host: str = procs.HOST) -> bool:
    """True if an SMTP server answers on the port with its 220 greeting."""
    with socket.create_connection((host, port), timeout=2) as s:
        return s.recv(64).startswith(b"220")


def start(stack: Stack, env: dict[str, str]) -> None:
    from importlib.util import find_spec

    if find_spec("aiosmtpd") is None:
        raise procs.StackError("smtp: aiosmtpd is not installed (it is in the production locks)")
    port = stack.ports["smtp"] = procs.choose_port(PORTS[stack.engine], list(stack.ports.values()))
    maildir = stack.home / "mail"
    stack.env.update(MLPIPELINE_SMTP=f"{procs.HOST}:{port}", MLPIPELINE_MAILDIR=str(maildir))
    stack.launch("smtp", argv(port, maildir), env, port=port, ready=lambda: greets(port))


def messages(maildir: str | Path) -> list[EmailMessage]:
    """Every message the server accepted (the Maildir's new/ and cur/), oldest first."""
    files = [f for sub in ("new", "cur") for f in (Path(maildir) / sub).glob("*") if f.is_file()]
    return [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        for f in sorted(files, key=lambda f: f.stat().st_mtime_ns)
    ]
