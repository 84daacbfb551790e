"""pytest plugin: a SIGTERM ends the session as a Ctrl-C does, with every fixture torn down.

Python's default SIGTERM ends the process at once: no `finally`, no `atexit`, so a session
fixture's server (Prefect's test harness starts its own, not our child) or a production stack
outlived a cancelled CI job. As KeyboardInterrupt, pytest stops the test in progress, reports
and runs the finalizers, which stop what the fixtures started.
"""

from __future__ import annotations

import signal

import pytest


def _interrupt(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it the hard way
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
