"""A SIGTERM to pytest (a cancelled CI job, tox's timeout) still runs the fixtures' teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlpipeline.paths import ROOT

SESSION = """
import os, subprocess, pytest

@pytest.fixture(scope="session")
def server():
    child = subprocess.Popen(["sleep", "600"])
    with open(os.environ["CHILD_PIDFILE"], "w") as f:
        f.write(str(child.pid))
    yield child
    child.terminate()
    child.wait()

def test_waits(server):
    import time
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_tears_down_the_session_fixtures(tmp_path: Path):
    (tmp_path / "test_session.py").write_text(SESSION)
    pidfile = tmp_path / "child.pid"
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.sigterm", "-p", "no:cacheprovider",
         str(tmp_path / "test_session.py")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "CHILD_PIDFILE": str(pidfile)},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    child = int(pidfile.read_text())
    try:
        session.send_signal(signal.SIGTERM)
        out, _ = session.communicate(timeout=60)
        assert "KeyboardInterrupt" in out, out
        assert not alive(child), "the fixture's process outlived the session"
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
